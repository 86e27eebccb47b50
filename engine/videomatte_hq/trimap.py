"""Foreground probability -> trimap (0 background, 128 unknown, 255 foreground)."""

from __future__ import annotations

import cv2
import numpy as np

BG, UNKNOWN, FG = 0, 128, 255


def band_radius(min_radius_1080: float, height: int, width: int) -> int:
    """The preset's minimum unknown half-width, scaled with the plate's short side."""
    return max(1, int(round(min_radius_1080 * min(height, width) / 1080)))


def make_trimap(prob: np.ndarray, fg_threshold: float, bg_threshold: float, min_radius: int) -> np.ndarray:
    """fg >= fg_threshold, bg <= bg_threshold, unknown between, plus at least `min_radius` px each side of the edge."""
    trimap = np.full(prob.shape, UNKNOWN, np.uint8)
    trimap[prob >= fg_threshold] = FG
    trimap[prob <= bg_threshold] = BG
    mask = (prob >= 0.5).astype(np.uint8)
    if mask.any() and not mask.all():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * min_radius + 1, 2 * min_radius + 1))
        edge = cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
        trimap[edge] = UNKNOWN
    return trimap


def trimap_to_unit(trimap: np.ndarray) -> np.ndarray:
    """uint8 trimap -> float32 {0, 0.5, 1}, the values matting models were trained with."""
    unit = np.full(trimap.shape, 0.5, np.float32)
    unit[trimap == BG] = 0.0
    unit[trimap == FG] = 1.0
    return unit
