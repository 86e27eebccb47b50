"""Foreground colour: the unpremultiplied F of I = aF + (1 - a)B where 0 < a < 1, in scene-linear light.

pymatting's multi-level estimator (Germer et al. 2020) runs on overlapping tiles of the refinement grid that
hold band pixels, blended like the alpha tiles, so memory is bounded by the tile at 4K/8K and the time grows
with the band, not the frame. Where a = 1 the foreground is the plate; where a = 0 it is black.

The estimator clips F and B to [0, 1]. The compositing equation is affine (a + (1 - a) = 1), so each tile is
mapped to [0, 1] by I' = (I - lo) / (hi - lo) with lo <= min(I, 0) and hi >= max(I, 1), solved, and mapped
back: highlights above 1 and negative (out-of-gamut) values survive exactly as the equation allows.
"""

from __future__ import annotations

import numpy as np

from .tiling import blend_weight, tile_grid

TILE, OVERLAP = 512, 64  # enough context around hair for the multi-level solve; 3 MB of float32 per tile
REGULARIZATION = 1e-5  # pymatting's defaults (the published settings)


def _solve(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from pymatting import estimate_foreground_ml  # imported here: numba compiles it on first use

    lo, hi = min(float(rgb.min()), 0.0), max(float(rgb.max()), 1.0)
    unit = (rgb - lo) / (hi - lo)
    return estimate_foreground_ml(unit, alpha, regularization=REGULARIZATION) * (hi - lo) + lo


def estimate_foreground(linear: np.ndarray, alpha: np.ndarray, tile: int = TILE,
                        overlap: int = OVERLAP) -> np.ndarray:
    """float32 (H, W, 3) straight foreground for a scene-linear plate (H, W, 3) and its alpha (H, W)."""
    height, width = alpha.shape
    band = (alpha > 0.0) & (alpha < 1.0)
    foreground = np.zeros(linear.shape, np.float32)
    opaque = alpha >= 1.0
    foreground[opaque] = linear[opaque]
    tiles = [t for t in tile_grid(height, width, tile, overlap) if band[t.slices].any()]
    if not tiles:
        return foreground
    wsum = np.zeros((height, width), np.float32)  # pages touched only where tiles are
    for t in tiles:  # serial: pymatting's resize kernels use numba's parallel layer, unsafe from many threads
        weight = blend_weight(t, height, width, overlap) * band[t.slices]
        # Band pixels start at 0 and accumulate the weighted estimates in place (no second frame-sized buffer).
        foreground[t.slices] += weight[..., None] * _solve(linear[t.slices], alpha[t.slices])
        wsum[t.slices] += weight
    foreground[band] /= wsum[band][:, None]
    return foreground
