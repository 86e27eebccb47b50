"""Peak RSS of a whole run vs clip length: frames are streamed, so it must stay flat.

    python bench/memory.py [--width 1920 --height 1080 --frames 10 40]

Generates the example shot at the given size (linear EXR), runs the CLI once per
length in a fresh process and reads that process's peak RSS from wait4().
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from videomatte_hq.synthetic import make_example


def run_measured(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one CLI run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "videomatte_hq", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run failed: {args}")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--backends", nargs=2, default=["flow", "closed_form"], metavar=("SEGMENT", "REFINE"),
                        help="the weight-free pair by default: it runs without model files")
    parser.add_argument("--extra", nargs="*", default=[], help="more CLI arguments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shot = make_example(Path(tmp) / "shot", args.width, args.height, max(args.frames))
        print("| frames | size | peak RSS MiB | wall s | s/frame |\n|---:|---|---:|---:|---:|")
        for count in args.frames:
            rss, wall = run_measured(["-i", shot["input"], "--anchor-mask", shot["anchor"], "-o",
                                      str(Path(tmp) / f"out{count}"), "--frame-end", str(1000 + count),
                                      "--segment-backend", args.backends[0], "--refine-backend", args.backends[1],
                                      "--progress", "none", *args.extra])
            print(f"| {count} | {args.width}x{args.height} | {rss:.0f} | {wall:.1f} | {wall / count:.2f} |")


if __name__ == "__main__":
    main()
