"""Plate colour: linear EXR -> display-referred sRGB before the models; NaN/inf cleaned.

Half-float plates (the usual EXR) go through a 65536-entry lookup table indexed by the half's bits: one gather
per value instead of clip + power + where, and exactly the float32 result of the formula (the table is made
with it); NaN/inf cleaning is folded into the table. One compiled pass (numba, which pymatting brings) reads
each value once and writes the float value, its 8-bit copy and the NaN/inf count: numpy's gather alone cost
three times as much on a 4K frame.
"""

from __future__ import annotations

from functools import cache

import numpy as np

LINEAR_EXTENSIONS = {".exr", ".hdr", ".sxr"}


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB transfer; input clipped to [0, 1] first (the models take display values)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """Inverse IEC 61966-2-1 sRGB transfer (display-encoded plates -> linear light for the foreground)."""
    x = np.clip(encoded, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def clean_nonfinite(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace NaN by 0 and +/-inf by the finite range; returns (pixels, count of bad values)."""
    bad = ~np.isfinite(pixels)
    count = int(bad.sum())
    if count:
        pixels = np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
    return pixels, count


@cache
def _half_table(linear: bool) -> np.ndarray:
    """float32 model value of every half-float bit pattern (NaN -> 0, +inf -> 1, -inf -> 0, then as the
    float path: sRGB transfer or clip)."""
    values = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
    return linear_to_srgb(values) if linear else np.clip(values, 0.0, 1.0).astype(np.float32)


@cache
def _half_table_u8(linear: bool) -> np.ndarray:
    return image_to_u8(_half_table(linear))


def rgb_channels(pixels: np.ndarray) -> np.ndarray:
    """The first three channels; grey (one or two channels) repeated."""
    if pixels.shape[2] >= 3:
        return pixels[:, :, :3]
    return np.repeat(pixels[:, :, :1], 3, axis=2)


@cache
def _half_lookup():
    import numba  # imported here: only half-float plates need it

    def lookup(bits, table, table_u8, rgb, rgb_u8):
        bad = 0
        height, width, channels = bits.shape
        for y in range(height):
            for x in range(width):
                for c in range(channels):
                    b = bits[y, x, c]
                    rgb[y, x, c] = table[b]
                    rgb_u8[y, x, c] = table_u8[b]
                    bad += (b & 0x7C00) == 0x7C00  # exponent all ones: inf or NaN
        return bad

    try:  # compiled once, kept beside this file or in the user's cache folder
        return numba.njit(nogil=True, cache=True)(lookup)
    except RuntimeError:  # neither is writable (a read-only install, no home): compiled in each process
        return numba.njit(nogil=True)(lookup)


def to_model_rgb(pixels: np.ndarray, linear: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Any plate pixels (H, W, C>=1; float16 or float32) -> float32 RGB in [0, 1], display-referred; its 8-bit
    copy (`image_to_u8`); the NaN/inf count."""
    rgb = rgb_channels(pixels)
    if rgb.dtype == np.float16:
        table = _half_table(linear)
        out, out_u8 = np.empty(rgb.shape, np.float32), np.empty(rgb.shape, np.uint8)
        bad = _half_lookup()(rgb.view(np.uint16), table, _half_table_u8(linear), out, out_u8)
        return out, out_u8, int(bad)
    rgb, bad = clean_nonfinite(rgb)
    rgb = linear_to_srgb(rgb) if linear else np.clip(rgb, 0.0, 1.0).astype(np.float32)
    rgb = np.ascontiguousarray(rgb)
    return rgb, image_to_u8(rgb), bad


def image_to_u8(image: np.ndarray) -> np.ndarray:
    """A display-referred float frame as 8-bit (rounded), e.g. for comparisons and detectors."""
    scaled = np.clip(image, 0.0, 1.0)
    scaled *= np.float32(255.0)  # in place: at 4K each temporary costs as much as the arithmetic
    scaled += np.float32(0.5)
    return scaled.astype(np.uint8)


def to_bgr_u8(image: np.ndarray) -> np.ndarray:
    """RGB float -> the contiguous uint8 BGR array OpenCV and ultralytics expect."""
    return np.ascontiguousarray(image_to_u8(image)[..., ::-1])
