"""A candidate for issue 13's fixed cost, measured before anything is built into the engine
(`bench/throughput.py --warm-up`): each model runs once as it is loaded, so that its first-use costs on a GPU
(cuDNN and cuBLAS set-up, kernels loaded lazily, SAM2's CUDA-graph capture, the first conditioning frame) are
paid while the other model loads and the first frames decode, not on the first frame of the shot. Patched into
the engine in the measured process only.
"""

from __future__ import annotations

import numpy as np


def install() -> None:
    """Wrap the two model loads of `videomatte_hq.pipeline` with one throwaway run each."""
    from videomatte_hq import pipeline
    from videomatte_hq.segment import sam2

    load_refine = pipeline._refine_backend

    def refine_backend(plan, events):  # on the loader thread in a one-pass run
        backend = load_refine(plan, events)
        _refine_once(backend, plan)
        return backend

    pipeline._refine_backend = refine_backend
    build_sam2 = sam2.SAM2Backend.__init__

    def sam2_backend(self, config, warn) -> None:
        build_sam2(self, config, warn)
        side = config.segmentation.imgsz
        height = side * 9 // 16  # letterboxed to the same imgsz square as any plate
        mask = np.zeros((height, side), np.float32)
        mask[height // 4:3 * height // 4, side // 3:2 * side // 3] = 1
        self.new_tracker().start(np.zeros((height, side, 3), np.uint8), mask)

    sam2.SAM2Backend.__init__ = sam2_backend


def _refine_once(backend, plan) -> None:
    """One frame of the plate's size through the tiling the run will use (as pipeline._Refiner picks it)."""
    from videomatte_hq.refine.tiling import TiledRefiner
    from videomatte_hq.trimap import UNKNOWN

    ref, height, width = plan.config.refinement, plan.source.height, plan.source.width
    fits = getattr(backend, "full_frame_fits", None)
    full = ref.refine_mode == "full" or ref.refine_mode == "auto" and fits is not None and fits(height, width)
    tile = max(height, width) if full else ref.tile_size or backend.default_tile
    overlap = 0 if full else ref.tile_overlap if ref.tile_overlap is not None else backend.default_overlap
    refiner = TiledRefiner(backend, tile, overlap, ref.batch_size or backend.default_batch, False,
                           ref.skip_iou_threshold, ref.skip_image_delta)
    trimap = np.zeros((height, width), np.uint8)
    trimap[height // 4:3 * height // 4, width // 4:3 * width // 4] = UNKNOWN
    refiner.refine_frame(np.zeros((height, width, 3), np.float32), np.zeros((height, width, 3), np.uint8), trimap,
                         None)
