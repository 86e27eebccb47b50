"""SAM2 stage 1 on the GPU, per precision: the dtype the predictor's model really runs in, and seconds per 4K
frame (model step + logits at plate size + probability), CUDA-synchronised, after a warm-up frame; then a
cProfile of three fp16 steps and their trimaps (where the host's time goes).

    PYTHONPATH=engine python bench/gpu_sam2_probe.py SAM2_L_PT
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from videomatte_hq.config import build_config  # noqa: E402
from videomatte_hq.segment.sam2 import SAM2Backend  # noqa: E402
from videomatte_hq.trimap import make_trimap  # noqa: E402


def main() -> None:
    model = sys.argv[1]
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (2160, 3840, 3), np.uint8) for _ in range(6)]  # frame_input "u8"
    mask = np.zeros((2160, 3840), np.float32)
    mask[500:1800, 1200:2600] = 1
    print("| precision | model dtype | predictor fp16 | s/frame (median of 5) |")
    print("|---|---|---|---:|")
    for precision in ("fp32", "fp16"):
        config = build_config(overrides={"model": model, "device": "cuda", "precision": precision,
                                         "allow_external_paths": True})
        tracker = SAM2Backend(config, print).new_tracker()
        model_obj = tracker.session.predictor.model
        tracker.start(frames[0], mask)
        times = []
        for image in frames[1:]:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            tracker.step(image)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        dtype = next(model_obj.parameters()).dtype
        print(f"| {precision} | {dtype} | {getattr(model_obj, 'fp16', None)} | {sorted(times)[2]:.3f} |")

    profile = cProfile.Profile()
    profile.enable()
    for image in frames[1:4]:
        make_trimap(tracker.step(image), 0.9, 0.1, 25, "cuda")  # as a run on CUDA
    torch.cuda.synchronize()
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
