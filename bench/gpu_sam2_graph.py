"""SAM2's image encoder replayed as a CUDA graph: a measurement before any engine change.

The tracker's step on a 4K frame is bound by the operator calls Python makes under the GIL that the refine's
thread shares (on the H100: 0.11-0.14 s a step alone, 0.26 s in a run). The image encoder (Hiera + FPN) is about
two thirds of a step's ~9,600 operator calls, on an input of one fixed shape: the case CUDA graphs are for. The
engine now replays it from a graph on CUDA (`runtime.cuda_graphs`, `torch_device.CudaGraphed`); this script
measures, on 4K frames, the tracker with the encoder eager and graphed:

- seconds per tracker step (median, CUDA-synchronised), eager vs graphed, alone and beside a thread refining
  full 4K frames with MEMatte (the one-pass run's contention);
- the largest probability difference between the two (the same kernels: expected 0 or fp16 noise).

    PYTHONPATH=engine python bench/gpu_sam2_graph.py SAM2_L_PT MEMATTE_PTH [--steps 8]

Without CUDA it runs the eager rows only (a check that the script works).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from videomatte_hq.config import build_config  # noqa: E402
from videomatte_hq.refine.mematte.backend import MEMatteBackend  # noqa: E402
from videomatte_hq.segment.sam2 import SAM2Backend  # noqa: E402
from videomatte_hq.torch_device import CudaGraphed  # noqa: E402

CUDA = torch.cuda.is_available()


def synchronize() -> None:
    if CUDA:
        torch.cuda.synchronize()


def track(backend, frames, mask) -> tuple[list[float], list[torch.Tensor]]:
    tracker = backend.new_tracker()
    probs = [tracker.start(frames[0], mask)]
    times = []
    for image in frames[1:]:
        synchronize()
        started = time.perf_counter()
        probs.append(tracker.step(image))
        synchronize()
        times.append(time.perf_counter() - started)
    return times, [torch.as_tensor(p).float().cpu() for p in probs]


def busy_refine(mematte: MEMatteBackend, stop: threading.Event, size: tuple[int, int]) -> None:
    """Full-frame MEMatte forwards until stopped: the refine thread of a one-pass run."""
    height, width = size
    device = mematte.device
    image = torch.rand(1, 3, height, width, device=device)
    trimap = torch.full((1, 1, height, width), 0.5, device=device)
    while not stop.is_set():
        mematte.forward_tiles(image, trimap)
        synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sam2")
    parser.add_argument("mematte")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", default="3840x2160")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    device = "cuda" if CUDA else "cpu"
    config = build_config(overrides={"model": args.sam2, "mematte_checkpoint": args.mematte, "device": device,
                                     "allow_external_paths": True, **({} if CUDA else {"imgsz": 256})})
    backend = SAM2Backend(config, print)
    mematte = MEMatteBackend(config, print)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), np.uint8) for _ in range(args.steps + 1)]
    mask = np.zeros((height, width), np.float32)
    mask[height // 5:height * 4 // 5, width // 3:width * 2 // 3] = 1
    graphed = backend.video.graphed

    print(f"{width}x{height}, {mematte.precision}, {torch.cuda.get_device_name() if CUDA else 'CPU'}\n")
    print("| encoder | refine thread beside | step s (median) | prob max diff vs eager alone |")
    print("|---|---|---:|---:|")
    reference = None
    for name, encoder in (("eager", None), ("CUDA graph", graphed or CudaGraphed(backend.video.model.forward_image))):
        if name == "CUDA graph" and not CUDA:
            break
        backend.video.graphed = encoder
        for beside in (False, True):
            stop = threading.Event()
            worker = threading.Thread(target=busy_refine, args=(mematte, stop, (height, width))) if beside else None
            if worker:
                worker.start()
            try:
                times, probs = track(backend, frames, mask)
            finally:
                stop.set()
                if worker:
                    worker.join()
            reference = reference or probs
            diff = max(float((a - b).abs().max()) for a, b in zip(probs, reference, strict=True))
            print(f"| {name} | {'MEMatte full frame' if beside else 'none'} | {statistics.median(times):.3f} "
                  f"| {diff:.2e} |", flush=True)


if __name__ == "__main__":
    main()
