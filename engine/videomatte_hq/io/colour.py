"""Plate colour: linear EXR -> display-referred sRGB before the models; NaN/inf cleaned."""

from __future__ import annotations

import numpy as np

LINEAR_EXTENSIONS = {".exr", ".hdr", ".sxr"}


def is_linear(suffix: str, colorspace: str) -> bool:
    """`auto` treats EXR/HDR as scene-linear and everything else (PNG, JPEG, DPX, video) as sRGB."""
    if colorspace == "auto":
        return suffix.lower() in LINEAR_EXTENSIONS
    return colorspace == "linear"


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB transfer; input clipped to [0, 1] first (the models take display values)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def clean_nonfinite(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN by 0 and +/-inf by the finite range; returns (pixels, count of bad values)."""
    bad = ~np.isfinite(pixels)
    count = int(bad.sum())
    if count:
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
    return pixels, count


def to_model_rgb(pixels: np.ndarray, linear: bool) -> tuple[np.ndarray, int]:
    """Any plate pixels (H, W, C>=1) -> float32 RGB in [0, 1], display-referred; plus the NaN/inf count."""
    pixels, bad = clean_nonfinite(pixels)
    if pixels.shape[2] == 1:
        rgb = np.repeat(pixels, 3, axis=2)
    else:
        rgb = pixels[:, :, :3] if pixels.shape[2] >= 3 else np.repeat(pixels[:, :, :1], 3, axis=2)
    rgb = linear_to_srgb(rgb) if linear else np.clip(rgb, 0.0, 1.0).astype(np.float32)
    return np.ascontiguousarray(rgb), bad


def image_to_u8(image: np.ndarray) -> np.ndarray:
    """A display-referred float frame as 8-bit (rounded), e.g. for comparisons and detectors."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_bgr_u8(image: np.ndarray) -> np.ndarray:
    """RGB float -> the contiguous uint8 BGR array OpenCV and ultralytics expect."""
    return np.ascontiguousarray(image_to_u8(image)[..., ::-1])
