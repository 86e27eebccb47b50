"""Foreground probability -> trimap (0 background, 128 unknown, 255 foreground)."""

from __future__ import annotations

import cv2
import numpy as np

BG, UNKNOWN, FG = 0, 128, 255
# Side of the blocks the edge search is split into: large enough that few crops are made, small enough that
# the blocks far from the subject's outline (most of a 4K frame) are skipped.
EDGE_BLOCK = 64


def band_radius(min_radius_1080: float, height: int, width: int) -> int:
    """The preset's minimum unknown half-width, scaled with the plate's short side."""
    return max(1, int(round(min_radius_1080 * min(height, width) / 1080)))


def make_trimap(prob: np.ndarray, fg_threshold: float, bg_threshold: float, min_radius: int) -> np.ndarray:
    """fg >= fg_threshold, bg <= bg_threshold, unknown between, plus at least `min_radius` px each side of the edge."""
    trimap = np.full(prob.shape, UNKNOWN, np.uint8)
    trimap[prob >= fg_threshold] = FG
    trimap[prob <= bg_threshold] = BG
    mask = (prob >= 0.5).view(np.uint8)
    trimap[edge_band(mask, min_radius)] = UNKNOWN
    return trimap


def edge_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose elliptic window of `radius` holds both mask values: `dilate(mask) != erode(mask)` with that
    kernel, as cv2 computes it, but only in the blocks within `radius` of a change (the same pixels; at 4K the
    full-frame morphology with a 25 px ellipse cost 0.2 s a frame)."""
    height, width = mask.shape
    edge = np.zeros(mask.shape, bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    b = EDGE_BLOCK
    rows, cols = -(-height // b), -(-width // b)
    # Padding repeats the border, so it adds no value a block did not hold. Each block's max and min in two
    # steps: first down its rows (contiguous, vectorised), then across its columns.
    strips = np.pad(mask, ((0, rows * b - height), (0, cols * b - width)), mode="edge").reshape(rows, b, cols * b)
    has_fg = strips.max(axis=1).reshape(rows, cols, b).max(axis=2)
    has_bg = strips.min(axis=1).reshape(rows, cols, b).min(axis=2) == 0
    reach = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * (-(-radius // b)) + 1,) * 2)
    near = cv2.dilate(has_fg, reach) & cv2.dilate(has_bg.view(np.uint8), reach)
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


def trimap_to_unit(trimap: np.ndarray) -> np.ndarray:
    """uint8 trimap -> float32 {0, 0.5, 1}, the values matting models were trained with."""
    return cv2.LUT(trimap, _UNIT)


_UNIT = np.full(256, 0.5, np.float32)
_UNIT[BG], _UNIT[FG] = 0.0, 1.0
