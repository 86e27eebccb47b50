"""Foreground colour: the unpremultiplied F of I = aF + (1 - a)B where 0 < a < 1, in scene-linear light.

pymatting's multi-level estimator (Germer et al. 2020) runs on overlapping tiles of the refinement grid that
hold band pixels, blended like the alpha tiles, so memory is bounded by the tile at 4K/8K and the time grows
with the band, not the frame; tiles are solved side by side where numba allows it. Where a = 1 the foreground
is the plate; where a = 0 it is black.

The estimator clips F and B to [0, 1]. The compositing equation is affine (a + (1 - a) = 1), so each tile is
mapped to [0, 1] by I' = (I - lo) / (hi - lo) with lo <= min(I, 0) and hi >= max(I, 1), solved, and mapped
back: highlights above 1 and negative (out-of-gamut) values survive exactly as the equation allows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import numpy as np

from .tiling import blend_weight, tile_grid

TILE, OVERLAP = 512, 64  # enough context around hair for the multi-level solve; 3 MB of float32 per tile
REGULARIZATION = 1e-5  # pymatting's defaults (the published settings)


def _solve(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from pymatting import estimate_foreground_ml  # imported here: numba compiles it on first use

    lo, hi = min(float(rgb.min()), 0.0), max(float(rgb.max()), 1.0)
    unit = (rgb - lo) / (hi - lo)
    return estimate_foreground_ml(unit, alpha, regularization=REGULARIZATION) * (hi - lo) + lo


def _threadsafe_numba() -> bool:
    """Whether numba's threading layer admits parallel kernels launched from several threads at once (tbb and
    omp do; workqueue, the fallback where neither library is present, aborts the process). Known once a
    parallel kernel has run."""
    import numba

    try:
        return numba.threading_layer() in ("tbb", "omp")
    except ValueError:  # no parallel kernel has run yet
        return False


def estimate_foreground(linear: np.ndarray, alpha: np.ndarray, tile: int = TILE, overlap: int = OVERLAP,
                        threads: int = 1) -> np.ndarray:
    """float32 (H, W, 3) straight foreground for a scene-linear plate (H, W, 3) and its alpha (H, W). Tiles are
    solved on up to `threads` threads (pymatting's solver releases the GIL) and blended in grid order, so the
    result does not depend on the thread count."""
    height, width = alpha.shape
    band = (alpha > 0.0) & (alpha < 1.0)
    foreground = np.zeros(linear.shape, np.float32)
    opaque = alpha >= 1.0
    foreground[opaque] = linear[opaque]
    tiles = [t for t in tile_grid(height, width, tile, overlap) if band[t.slices].any()]
    if not tiles:
        return foreground
    wsum = np.zeros((height, width), np.float32)  # pages touched only where tiles are

    def solve(t):
        return _solve(linear[t.slices], alpha[t.slices])

    first = solve(tiles[0])  # alone: it also starts numba's threading layer, which says whether threads are safe
    workers = max(1, min(threads, len(tiles) - 1)) if _threadsafe_numba() else 1  # one thread: one kernel at a time
    with ThreadPoolExecutor(workers) as pool:
        for t, estimate in zip(tiles, chain([first], pool.map(solve, tiles[1:]))):  # in grid order
            weight = blend_weight(t, height, width, overlap) * band[t.slices]
            # Band pixels start at 0 and accumulate the weighted estimates in place (no second frame buffer).
            foreground[t.slices] += weight[..., None] * estimate
            wsum[t.slices] += weight
    foreground[band] /= wsum[band][:, None]
    return foreground
