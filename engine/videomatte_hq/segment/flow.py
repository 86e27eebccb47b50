"""Weight-free stage 1: warp the previous mask with dense optical flow, re-fit its edge to the image.

Flow (OpenCV DIS) is computed on a downscaled grey copy from the current frame back to
the previous one, so the previous mask is pulled along it (backward warping, no holes).
The warped mask's edge is then re-fitted to the current image: GrabCut (colour models
of subject and background) decides the pixels within a band around the warped edge,
which stops flow errors from dragging the mask onto the background, and a guided
filter (He et al. 2010) gives the binary result a soft edge that follows the image.
Re-binarising each frame stops blur from accumulating.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..trimap import band_radius

GUIDED_EPS = 1e-3
GRABCUT_ITERATIONS = 2


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


class FlowTracker:
    def __init__(self, max_side: int, edge_radius_1080: int, band_1080: int) -> None:
        self.max_side = max_side
        self.edge_radius_1080 = edge_radius_1080
        self.band_1080 = band_1080
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.prev_small: np.ndarray | None = None
        self.prev_mask: np.ndarray | None = None
        self.subject_lost = False

    def _small(self, grey: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = grey.shape
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1 else grey
        return (small * 255).round().astype(np.uint8), scale

    def _grabcut(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Binary subject mask: GrabCut decides a band around the edge of `mask`, at working size."""
        h, w = mask.shape
        scale = min(1.0, self.max_side / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small_img = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1 else image
        small = (cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR) if scale < 1 else mask) >= 0.5
        if not small.any() or small.all():
            return mask >= 0.5
        band = max(2, round(self.band_1080 * min(size) / 1080))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        m8 = small.astype(np.uint8)
        labels = np.where(small, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        labels[cv2.erode(m8, kernel) > 0] = cv2.GC_FGD
        labels[cv2.dilate(m8, kernel) == 0] = cv2.GC_BGD
        if not (labels == cv2.GC_FGD).any():  # subject thinner than the band: keep it as probable only
            labels[small] = cv2.GC_PR_FGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        img8 = (np.clip(small_img, 0, 1) * 255).round().astype(np.uint8)
        cv2.grabCut(img8, labels, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
        fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
        return (cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1 else fg) >= 0.5

    def _refit(self, image: np.ndarray, grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
        binary = self._grabcut(image, mask).astype(np.float32)
        radius = band_radius(self.edge_radius_1080, *grey.shape)
        prob = np.clip(guided_filter(grey, binary, radius, GUIDED_EPS), 0.0, 1.0)
        self.prev_mask = prob
        self.subject_lost = not binary.any()
        return prob

    def start(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        grey = _grey(image)
        self.prev_small, _ = self._small(grey)
        return self._refit(image, grey, mask)

    reanchor = start

    def step(self, image: np.ndarray) -> np.ndarray:
        grey = _grey(image)
        small, scale = self._small(grey)
        flow = self.flow.calc(small, self.prev_small, None)  # current -> previous
        h, w = grey.shape
        if scale < 1:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / scale
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(self.prev_mask, grid_x + flow[..., 0], grid_y + flow[..., 1],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self.prev_small = small
        return self._refit(image, grey, warped)


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
