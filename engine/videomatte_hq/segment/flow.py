"""Weight-free stage 1: warp the previous mask with dense optical flow, re-fit its edge to the image.

Flow (OpenCV DIS) is computed on a downscaled grey copy from the current frame back to
the previous one, so the previous mask is pulled along it (backward warping, no holes).
Pixels the subject uncovered (disocclusions) are not pulled along: a pixel that no
subject pixel of the previous frame reaches under the forward flow starts as background,
which stops the mask from trailing a moving subject onto the background behind it.
The warped mask's edge is then re-fitted to the current image: GrabCut decides the pixels
within a band around the warped edge, with the subject's colour model learnt on the
anchored frames and kept (a model re-learnt from the tracked mask learns whatever the mask
crept onto and then keeps it), and the background's learnt on this frame in a ring around
the subject (what the edge competes with, not the whole frame's colours). A guided
filter (He et al. 2010) gives the binary result a soft edge that follows the image;
re-binarising each frame stops blur from accumulating. Measured on the public clips:
docs/benchmarks.md, "The weight-free tracker".
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..trimap import band_radius

GUIDED_EPS = 1e-3
GRABCUT_ITERATIONS = 2
BG_RING = 3  # the background colour model is learnt within this many band widths outside the subject
MIN_RING_PIXELS = 50
FG_SAMPLES = 2000  # GrabCut learns both models at once: a few subject pixels go with the ring's
SPLAT_CLOSE = 5  # px: forward-splatted subject pixels land on a grid with gaps; close them


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter with box means (O(1) per pixel at any radius)."""
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(src)
    cov_ip = mean(guide * src) - mean_i * mean_p
    var_i = mean(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def _models(img8: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut's (background, subject) colour models learnt from labelled pixels."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(img8, labels.copy(), None, bgd, fgd, 0, cv2.GC_INIT_WITH_MASK)
    return bgd, fgd


def _is_fg(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


class FlowTracker:
    def __init__(self, max_side: int, edge_radius_1080: int, band_1080: int) -> None:
        self.max_side = max_side
        self.edge_radius_1080 = edge_radius_1080
        self.band_1080 = band_1080
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.prev_small: np.ndarray | None = None
        self.prev_fg: np.ndarray | None = None  # the last binary subject at working size, float32
        self.fg_model: np.ndarray | None = None  # the subject's colours, learnt on the last anchored frame
        self.subject_lost = False

    def _work_size(self, shape: tuple[int, ...]) -> tuple[int, int]:
        h, w = shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        return max(1, round(w * scale)), max(1, round(h * scale))

    @staticmethod
    def _resize(x: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
        return x if (x.shape[1], x.shape[0]) == size else cv2.resize(x, size, interpolation=interpolation)

    def _band(self, size: tuple[int, int]) -> int:
        return max(2, round(self.band_1080 * min(size) / 1080))

    def _labels(self, fg: np.ndarray, band: int) -> np.ndarray:
        """Decided far from the edge of `fg`, probable (the image decides) within `band` of it."""
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        m8 = fg.astype(np.uint8)
        labels = np.where(fg, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        labels[cv2.erode(m8, kernel) > 0] = cv2.GC_FGD
        labels[cv2.dilate(m8, kernel) == 0] = cv2.GC_BGD
        if not (labels == cv2.GC_FGD).any():  # subject thinner than the band: keep it as probable only
            labels[fg] = cv2.GC_PR_FGD
        return labels

    def _background_model(self, img8: np.ndarray, labels: np.ndarray, band: int) -> np.ndarray:
        fg = _is_fg(labels)
        outside = cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 3)
        ring = (outside > 0) & (outside <= BG_RING * band)
        if ring.sum() < MIN_RING_PIXELS:
            return _models(img8, labels)[0]
        sample = np.concatenate([img8[ring], img8[fg][:: max(1, int(fg.sum()) // FG_SAMPLES)]])[None]
        sample_labels = np.full(sample.shape[:2], cv2.GC_FGD, np.uint8)
        sample_labels[0, : int(ring.sum())] = cv2.GC_BGD
        return _models(sample, sample_labels)[0]

    def _grabcut(self, img8: np.ndarray, labels: np.ndarray, band: int, anchored: bool) -> np.ndarray:
        fg = _is_fg(labels)
        if not fg.any() or fg.all():
            return fg
        if anchored or self.fg_model is None:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            cv2.grabCut(img8, labels, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
            result = _is_fg(labels)
            if result.any() and not result.all():
                self.fg_model = _models(img8, np.where(result, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8))[1]
            return result
        bgd = self._background_model(img8, labels, band)
        for _ in range(GRABCUT_ITERATIONS):  # the frozen-model mode runs one iteration a call
            cv2.grabCut(img8, labels, None, bgd, self.fg_model.copy(), 1, cv2.GC_EVAL_FREEZE_MODEL)
        return _is_fg(labels)

    def _fit(self, image: np.ndarray, prior: np.ndarray, anchored: bool) -> np.ndarray:
        h, w = image.shape[:2]
        size = self._work_size(image.shape)
        band = self._band(size)
        labels = self._labels(prior >= 0.5, band)
        img8 = (np.clip(self._resize(image, size, cv2.INTER_AREA), 0, 1) * 255).round().astype(np.uint8)
        self.prev_fg = self._grabcut(img8, labels, band, anchored).astype(np.float32)
        binary = self._resize(self.prev_fg, (w, h), cv2.INTER_LINEAR) >= 0.5
        self.subject_lost = not binary.any()
        radius = band_radius(self.edge_radius_1080, h, w)
        return np.clip(guided_filter(_grey(image), binary.astype(np.float32), radius, GUIDED_EPS), 0.0, 1.0)

    def _small(self, image: np.ndarray) -> np.ndarray:
        grey = self._resize(_grey(image), self._work_size(image.shape), cv2.INTER_AREA)
        return (grey * 255).round().astype(np.uint8)

    def _uncovered(self, forward: np.ndarray, warped: np.ndarray) -> np.ndarray:
        """Warped-subject pixels that no subject pixel of the previous frame reaches under the forward flow:
        background the subject moved off (the backward flow is smooth across the subject's edge there)."""
        h, w = warped.shape
        ys, xs = np.nonzero(self.prev_fg >= 0.5)
        reached = np.zeros((h, w), np.uint8)
        reached[np.clip(np.round(ys + forward[ys, xs, 1]).astype(int), 0, h - 1),
                np.clip(np.round(xs + forward[ys, xs, 0]).astype(int), 0, w - 1)] = 1
        reached = cv2.dilate(reached, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (SPLAT_CLOSE, SPLAT_CLOSE)))
        return (warped >= 0.5) & (reached == 0)

    def start(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.prev_small = self._small(image)
        prior = self._resize(mask.astype(np.float32), self._work_size(image.shape), cv2.INTER_LINEAR)
        return self._fit(image, prior, anchored=True)

    reanchor = start

    def step(self, image: np.ndarray) -> np.ndarray:
        small = self._small(image)
        backward = self.flow.calc(small, self.prev_small, None)  # current -> previous: pull the mask along it
        forward = self.flow.calc(self.prev_small, small, None)
        grid_x, grid_y = _grid(*small.shape)
        warped = cv2.remap(self.prev_fg, grid_x + backward[..., 0], grid_y + backward[..., 1],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped[self._uncovered(forward, warped)] = 0.0
        self.prev_small = small
        return self._fit(image, warped, anchored=False)


class FlowBackend:
    name = "flow"

    def __init__(self, config, warn) -> None:
        self.max_side = config.segmentation.flow_max_side
        self.edge_radius = config.segmentation.flow_edge_radius
        self.band = config.segmentation.flow_refit_band

    @staticmethod
    def model_files(config) -> list[Path]:
        return []

    def new_tracker(self) -> FlowTracker:
        return FlowTracker(self.max_side, self.edge_radius, self.band)
