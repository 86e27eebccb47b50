"""MEMatte alone on a 4K frame on CUDA: the tiled refine (the pipeline's TiledRefiner with the backend's device
canvas, per batch size) against the padded full frame, at the ~7 % band of bench/mematte_tiling.py, then a
torch.profiler table of one tiled frame (where the time goes: kernels vs the host).

    PYTHONPATH=engine python bench/gpu_mematte.py CHECKPOINT [--precision fp16] [--frames 5] [--size WxH]

(`--device cpu` with a small `--size` only checks that the script runs.)

Seconds per frame are the median over --frames after one warm-up frame, CUDA-synchronised; the alpha goes back
to the host as in a run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "engine"), str(BENCH)]

from mematte_tiling import scene  # noqa: E402
from videomatte_hq.config import build_config  # noqa: E402
from videomatte_hq.io.colour import image_to_u8  # noqa: E402
from videomatte_hq.refine.mematte.backend import MEMatteBackend  # noqa: E402
from videomatte_hq.refine.tiling import TiledRefiner  # noqa: E402


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(refine, frames: int) -> float:
    refine()  # warm-up: cuDNN's algorithm search, the allocator's first blocks
    times = []
    for _ in range(frames):
        synchronize()
        t0 = time.perf_counter()
        refine()
        synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    config = build_config(overrides={"mematte_checkpoint": args.checkpoint, "allow_external_paths": True,
                                     "device": args.device, "precision": args.precision})
    backend = MEMatteBackend(config, print)
    image, trimap = scene(width, height, 0)
    image_u8 = image_to_u8(image)
    band = float((trimap == 128).mean())
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"{width}x{height}, band {band:.1%}, {args.precision}, {device}\n")
    print("| run | tiles | s/frame | peak GPU GiB |\n|---|---:|---:|---:|")
    for mode, tile, overlap, batch in (("full frame", max(width, height), 0, 1),
                                       ("tiled", backend.default_tile, backend.default_overlap, 8),
                                       ("tiled", backend.default_tile, backend.default_overlap, 16),
                                       ("tiled", backend.default_tile, backend.default_overlap, 32)):
        refiner = TiledRefiner(backend, tile, overlap, batch, False, 0.98, 0.004)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        count = []
        seconds = timed(lambda: count.append(refiner.refine_frame(image, image_u8, trimap, None)[1]), args.frames)
        label = mode if mode == "full frame" else f"tiled {tile}/{overlap}, batch {batch}"
        print(f"| {label} | {count[-1]} | {seconds:.3f} | {peak_gib():.1f} |", flush=True)
    refiner = TiledRefiner(backend, backend.default_tile, backend.default_overlap, backend.default_batch, False,
                           0.98, 0.004)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        refiner.refine_frame(image, image_u8, trimap, None)
        synchronize()
    if torch.cuda.is_available():
        print(f"\nOne tiled frame (batch {backend.default_batch}), by CUDA time:\n")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=20, max_name_column_width=60))
    print("\nBy CPU time:\n")
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=20, max_name_column_width=60))


if __name__ == "__main__":
    main()
