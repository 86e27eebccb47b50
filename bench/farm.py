"""One process vs the Dask executor (a LocalCluster) on a generated weight-free shot, in the same invocation.

    python bench/farm.py [--width 1920 --height 1080 --frames 16 --chunk-size 4 --workers 2]

Runs the CLI twice in fresh processes (`--executor local`, then `--executor dask`), each timed by wall clock,
with each stage's seconds from the reports; then the max |alpha difference| between the two (temporal reuse on,
the default: reuse restarts at each chunk's first frame).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from videomatte_hq.io.images import read_image
from videomatte_hq.synthetic import make_example


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "videomatte_hq", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shot = make_example(Path(tmp) / "shot", args.width, args.height, args.frames, 1001, "exr")
        common = ["-i", shot["input"], "--anchor-mask", shot["anchor"], "--segment-backend", "flow",
                  "--refine-backend", "closed_form", "--progress", "none"]
        rows = {}
        for executor in ("local", "dask"):
            out = Path(tmp) / executor
            wall = timed([*common, "-o", str(out), "--executor", executor, "--chunk-size", str(args.chunk_size)])
            summary = json.loads((out / "run_summary.json").read_text())
            rows[executor] = (wall, summary["stage_seconds"], out)
        diff = max(float(np.abs(read_image(p)[0] - read_image(rows["dask"][2] / "alpha" / p.name)[0]).max())
                   for p in sorted((rows["local"][2] / "alpha").glob("*.png")))
    base = rows["local"][0]
    print(f"{args.width}x{args.height}, {args.frames} frames, chunk size {args.chunk_size}")
    print("| executor | wall s | s/frame | ratio vs one process | segment s | refine s (sum of steps) |")
    print("|---|---|---|---|---|---|")
    for executor, (wall, stages, _) in rows.items():
        print(f"| {executor} | {wall:.1f} | {wall / args.frames:.2f} | {base / wall:.2f}x | "
              f"{stages.get('segment', 0):.1f} | {stages.get('refine', 0):.1f} |")
    print(f"max |alpha difference| dask vs one process (temporal reuse on): {diff:.5f}")


if __name__ == "__main__":
    main()
