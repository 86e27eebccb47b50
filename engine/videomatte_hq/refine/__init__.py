"""Stage 2: alpha in the trimap's unknown band, computed tile by tile.

A backend only maps batches of (image tile, trimap tile) to alpha tiles; tiling,
blending and temporal reuse live in `tiling.py` and serve every backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from .. import registry


class RefineBackend(Protocol):
    name: str
    display_name: str  # used in user-facing messages
    default_tile: int
    default_overlap: int
    default_batch: int  # tiles per refine() call when batch_size is not set (may depend on the device)

    @staticmethod
    def model_files(config) -> list[Path]:
        """The model files this config uses; raises a user-facing error now (preflight) if one is
        missing or not allowed."""

    def refine(self, images: list[np.ndarray], trimaps: list[np.ndarray]) -> list[np.ndarray]:
        """images: (h, w, 3) float32 RGB in [0, 1]; trimaps: (h, w) float32 {0, 0.5, 1}; same-size tiles."""
        ...


def backend_class(name: str):
    return registry.backend_class("refine", name)
