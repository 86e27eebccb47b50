"""The host's share of a MEMatte forward: torch operator calls and host syncs, this revision against a baseline.

    .venv/bin/python bench/mematte_calls.py [--baseline-dir DIR] [--case 480x480x16 ...] [--threads 2]

On a GPU every operator call is a kernel launch the Python thread makes (holding the GIL that the tracker's thread
also needs), and every sync (`nonzero`, `item`, a boolean index) stops the host from queueing work ahead; neither
depends on the device, so they are counted here on the CPU (torch.profiler, one forward after a warm-up). A case is
WxHxBATCH (480x480x16: the CUDA tile batch; 1920x1080x1: a full frame, decoded in 512 px patches). Syncs are the
`nonzero` and `item` calls the profiler lists; a `tolist` is not listed (this revision makes one per routed block:
4 a forward). Random-init weights, as generated weights; the largest alpha difference between the revisions shows the
same computation. Each revision runs in a fresh process (`--baseline-dir`: a checkout holding `engine/`, e.g.
`git archive REV engine | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SYNCS = ("aten::nonzero", "aten::_local_scalar_dense")


def child(width: int, height: int, batch: int, threads: int, alpha_path: Path) -> dict:
    import torch

    from videomatte_hq.refine.mematte.model import MEMatte

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = MEMatte().eval()
    model.DECODER_BATCH = 16  # as the backend sets it on CUDA (a baseline without the attribute ignores it)
    image = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(1))
    trimap = torch.full((batch, 1, height, width), 0.5)
    with torch.inference_mode():
        model(image, trimap)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            started = time.perf_counter()
            alpha = model(image, trimap)
            seconds = time.perf_counter() - started
    np.save(alpha_path, alpha.numpy())
    events = prof.key_averages()
    return {"calls": sum(e.count for e in events if e.key.startswith("aten::")),
            "syncs": sum(e.count for e in events if e.key in SYNCS), "seconds": round(seconds, 2)}


def measure(engine: Path, case: str, threads: int, alpha_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(engine)}
    out = subprocess.run([sys.executable, __file__, "--child", case, "--threads", str(threads), "--alpha",
                          str(alpha_path)], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline-dir", type=Path)
    parser.add_argument("--case", nargs="+", default=["480x480x16", "480x480x4", "1920x1080x1"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--alpha", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*map(int, args.child.split("x")), args.threads, args.alpha)))
        return
    revisions = [("this", ROOT / "engine")] + ([("baseline", args.baseline_dir / "engine")] if args.baseline_dir
                                                else [])
    print("| case | revision | aten calls | host syncs | CPU s | alpha max diff |\n|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.case:
            alphas = []
            for name, engine in revisions:
                alphas.append(Path(tmp) / f"{name}.npy")
                r = measure(engine, case, args.threads, alphas[-1])
                diff = f"{np.abs(np.load(alphas[0]) - np.load(alphas[-1])).max():.1e}" if name != "this" else ""
                print(f"| {case} | {name} | {r['calls']} | {r['syncs']} | {r['seconds']} | {diff} |", flush=True)


if __name__ == "__main__":
    main()
