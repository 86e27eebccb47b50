"""Foreground probability -> trimap (0 background, 128 unknown, 255 foreground)."""

from __future__ import annotations

import cv2
import numpy as np

BG, UNKNOWN, FG = 0, 128, 255
# Side of the blocks the edge search is split into: large enough that few crops are made, small enough that
# the blocks far from the subject's outline (most of a 4K frame) are skipped.
EDGE_BLOCK = 64
# Above this fraction of candidate blocks (a ragged mask: noise, foliage) the crops' overlapping context costs more
# than the full-frame morphology (measured at 4K with a 25 px radius: equal at about 0.3).
EDGE_BLOCKS_MAX = 0.25


def band_radius(min_radius_1080: float, height: int, width: int) -> int:
    """The preset's minimum unknown half-width, scaled with the plate's short side."""
    return max(1, int(round(min_radius_1080 * min(height, width) / 1080)))


def ellipse(radius: int) -> np.ndarray:
    """cv2's elliptic structuring element of that radius."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def make_trimap(prob, fg_threshold: float, bg_threshold: float, min_radius: int,
                device: str | None = None) -> np.ndarray:
    """fg >= fg_threshold, bg <= bg_threshold, unknown between, plus at least `min_radius` px each side of the edge.

    `prob`: (H, W) float32, a numpy array or a torch tensor where its model ran. A tensor, or a numpy array with a
    torch `device` (a GPU beside a model), has the whole trimap computed there (the same values): only the uint8
    trimap comes back to the host."""
    if device is not None or not isinstance(prob, np.ndarray):
        return _trimap_torch(prob, fg_threshold, bg_threshold, ellipse(min_radius), device)
    trimap = np.full(prob.shape, UNKNOWN, np.uint8)
    trimap[prob >= fg_threshold] = FG
    trimap[prob <= bg_threshold] = BG
    mask = (prob >= 0.5).view(np.uint8)
    trimap[edge_band(mask, min_radius)] = UNKNOWN
    return trimap


def _trimap_torch(prob, fg_threshold: float, bg_threshold: float, kernel: np.ndarray, device: str | None):
    """make_trimap with torch, on `prob`'s device (or `device`); the band from running sums (`_window_holds`): a
    ragged 4K mask took 0.5 s in cv2."""
    import torch  # only where a torch model runs

    prob = torch.as_tensor(prob, device=device)
    trimap = torch.full(prob.shape, UNKNOWN, dtype=torch.uint8, device=prob.device)
    trimap[prob >= fg_threshold] = FG
    trimap[prob <= bg_threshold] = BG
    fg = (prob >= 0.5).to(torch.uint8)
    trimap[_window_holds(fg, kernel) & _window_holds(1 - fg, kernel)] = UNKNOWN
    from .torch_device import to_host

    return to_host(trimap)


def edge_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose elliptic window of `radius` holds both mask values: `dilate(mask) != erode(mask)` with that
    kernel, as cv2 computes it, but only in the blocks within `radius` of a change (the same pixels; at 4K the
    full-frame morphology with a 25 px ellipse cost 0.2 s a frame). A ragged mask, near a change almost everywhere,
    takes the full-frame morphology."""
    kernel = ellipse(radius)
    height, width = mask.shape
    edge = np.zeros(mask.shape, bool)
    b = EDGE_BLOCK
    rows, cols = -(-height // b), -(-width // b)
    # Padding repeats the border, so it adds no value a block did not hold. Each block's max and min in two
    # steps: first down its rows (contiguous, vectorised), then across its columns.
    strips = np.pad(mask, ((0, rows * b - height), (0, cols * b - width)), mode="edge").reshape(rows, b, cols * b)
    has_fg = strips.max(axis=1).reshape(rows, cols, b).max(axis=2)
    has_bg = strips.min(axis=1).reshape(rows, cols, b).min(axis=2) == 0
    reach = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * (-(-radius // b)) + 1,) * 2)
    near = cv2.dilate(has_fg, reach) & cv2.dilate(has_bg.view(np.uint8), reach)
    if near.mean() > EDGE_BLOCKS_MAX:
        return cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
    for row in range(rows):
        on = np.flatnonzero(near[row])
        # Runs of consecutive candidate blocks, each one crop with `radius` of context around it.
        for run in np.split(on, np.flatnonzero(np.diff(on) > 1) + 1) if on.size else ():
            y0, y1, x0, x1 = row * b, min(height, (row + 1) * b), run[0] * b, min(width, (run[-1] + 1) * b)
            cy0, cx0 = max(0, y0 - radius), max(0, x0 - radius)
            crop = mask[cy0:min(height, y1 + radius), cx0:min(width, x1 + radius)]
            band = cv2.dilate(crop, kernel) != cv2.erode(crop, kernel)
            edge[y0:y1, x0:x1] = band[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
    return edge


def _window_holds(mask, kernel: np.ndarray):
    """Where the kernel's window around each pixel covers a 1 of the (H, W) uint8 tensor `mask`, exactly: each
    kernel row is one run of ones, whose count in a mask row is a difference of that row's running sums; the
    rows' answers are OR-ed, shifted by their offset (outside the frame counts as 0, as cv2's default border).
    About 2 x radius whole-frame operations: cheap on a GPU, whatever the radius. cv2's ellipse is symmetric
    about its middle row, so rows dy and -dy share one count."""
    import torch

    height, width = mask.shape
    radius = kernel.shape[0] // 2
    sums = torch.nn.functional.pad(mask.int().cumsum(1), (1, 0))  # sums[:, x]: the ones in mask[:, :x]
    x = torch.arange(width, device=mask.device)
    holds = torch.zeros((height, width), dtype=torch.bool, device=mask.device)
    for dy in range(radius + 1):
        ones = np.flatnonzero(kernel[dy]) - radius
        hit = sums[:, (x + int(ones[-1]) + 1).clamp(max=width)] - sums[:, (x + int(ones[0])).clamp(min=0)] > 0
        padded = torch.nn.functional.pad(hit, (0, 0, radius, radius))  # zero rows above and below the frame
        holds |= padded[dy:dy + height]
        holds |= padded[2 * radius - dy:2 * radius - dy + height]
    return holds


def trimap_to_unit(trimap):
    """uint8 trimap -> float32 {0, 0.5, 1}, the values matting models were trained with; a torch tensor's on its
    device (a quarter of the bytes to upload)."""
    if isinstance(trimap, np.ndarray):
        return cv2.LUT(trimap, _UNIT)
    import torch

    return torch.from_numpy(_UNIT).to(trimap.device)[trimap.long()]


_UNIT = np.full(256, 0.5, np.float32)
_UNIT[BG], _UNIT[FG] = 0.0, 1.0
