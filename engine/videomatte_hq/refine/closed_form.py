"""Weight-free stage 2: closed-form (Levin et al. 2008) or learning-based matting via pymatting.

The solve is pymatting's own (matting Laplacian, then conjugate gradients with an
incomplete-Cholesky preconditioner on the unknown pixels), called through its
primitives because its `estimate_alpha_*` wrappers reject a trimap with no
foreground or no background, which a tile at the edge of a subject often is.
"""

from __future__ import annotations

import contextlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse

# Ridge on the unknown block: keeps it positive definite where an unknown region touches no
# known pixel inside its tile (otherwise CG may not converge); shifts alpha by ~1e-6.
RIDGE = 1e-6
# px: how far a pixel's row of the matting Laplacian reaches (pymatting's windows have radius 1: a pixel shares
# windows with the pixels within 2 px), for both the closed-form and the learning-based Laplacian.
WINDOW_REACH = 2


class ClosedFormBackend:
    name = "closed_form"
    display_name = "Closed-form matting"
    default_tile = 512
    default_overlap = 64
    default_batch = 16  # tiles of a batch are solved side by side, one per CPU thread: a frame's tiles at once

    def __init__(self, config, warn) -> None:
        import pymatting  # imported here: its numba compile is slow and only this backend needs it
        from threadpoolctl import ThreadpoolController

        self._pm = pymatting
        self._blas = ThreadpoolController()
        self.method = config.refinement.closed_form_method
        self.threads = config.runtime.cpu_threads

    @staticmethod
    def model_files(config) -> list[Path]:
        return []

    def _solve(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """The tile's alpha, solved in the box around its unknown pixels: a pixel's Laplacian row comes from the
        windows it lies in, which reach WINDOW_REACH px, so the box gives the same unknown rows, right-hand side
        and pixel order as the whole tile (the same alpha, bit for bit) without the Laplacian of the rest: a
        1080p frame's refine 7-37 % sooner (the less of its tiles the band's boxes cover, the more)."""
        ys, xs = np.nonzero(trimap == 0.5)
        alpha = trimap.copy()
        if len(ys):
            box = (slice(max(ys.min() - WINDOW_REACH, 0), ys.max() + WINDOW_REACH + 1),
                   slice(max(xs.min() - WINDOW_REACH, 0), xs.max() + WINDOW_REACH + 1))
            alpha[box] = self._solve_box(image[box], trimap[box])
        return alpha

    def _solve_box(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        pm = self._pm
        known = (trimap != 0.5).ravel()
        unknown = ~known
        if self.method == "cf":
            laplacian = pm.cf_laplacian(image, is_known=known.reshape(trimap.shape))
        else:
            laplacian = pm.lbdm_laplacian(image)
        rows = laplacian[unknown, :]
        l_u = (rows[:, unknown] + RIDGE * scipy.sparse.identity(int(unknown.sum()))).tocsr()
        rhs = -rows[:, known].dot((trimap.ravel()[known] == 1.0).astype(np.float64))
        alpha = trimap.ravel().astype(np.float64)
        # No foreground constraint reaches the band: the solution is exactly 0 (and pymatting's CG
        # divides by the zero residual), so skip the solve.
        alpha[unknown] = pm.cg(l_u, rhs, M=pm.ichol(l_u)) if rhs.any() else 0.0
        return np.clip(alpha, 0.0, 1.0).reshape(trimap.shape)

    def refine(self, images: list[np.ndarray], trimaps: list[np.ndarray]) -> list[np.ndarray]:
        def solve(tile: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            return self._solve(tile[0].astype(np.float64), tile[1].astype(np.float64)).astype(np.float32)

        # Each tile is its own solve (the result does not depend on the threads); pymatting's Laplacian and
        # preconditioner release the GIL. One level of parallelism: each solve on one thread, BLAS included
        # (process-wide while the tiles are solved): OpenBLAS would spread each CG step's dot products over every
        # core and spin between them, 0.7 of a 1080p frame's 1.7 CPU s on two cores, taken from the other tiles
        # and the tracker, for the same wall time. pymatting prints solver notes on stdout, which carries the
        # JSON-lines protocol (whose sink holds the real stream).
        with (self._blas.limit(limits=1, user_api="blas"), contextlib.redirect_stdout(io.StringIO()),
              ThreadPoolExecutor(self.threads) as pool):
            return list(pool.map(solve, zip(images, trimaps)))
