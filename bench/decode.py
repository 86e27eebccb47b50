"""Plate decoding alone: the full preflight's check of every frame and a pass's decode and conversion, each in a
fresh process (its own peak RSS), for this revision and a baseline (a temporary git worktree).

    .venv/bin/python bench/decode.py [--shot DIR] [--frames 20] [--size 3840x2160] [--threads 2 8]
        [--baseline REV] [--repeat 2]

`--shot` takes a folder made by bench/throughput.py (plate/plate.####.exr); without it a shot is generated. Prints
wall seconds, CPU seconds (user and system: the kernel's share is mostly clearing fresh pages) and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import revisions

CHILD = """
import json, os, resource, sys, time
from videomatte_hq.io.source import open_source
phase, pattern, threads, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
source = open_source(pattern, "auto", lambda message: None, threads)
frames = list(range(first, first + count))
source.warm_up()
before, started = os.times(), time.perf_counter()
if phase == "check":
    source.check(frames, True)
else:
    for decoded in source.iter_decoded(frames):
        pass
after = os.times()
print(json.dumps({"wall_s": time.perf_counter() - started, "user_s": after.user - before.user,
                  "sys_s": after.system - before.system,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def measure(engine: Path, phase: str, pattern: str, threads: int, first: int, frames: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(engine)}
    proc = subprocess.run([sys.executable, "-c", CHILD, phase, pattern, str(threads), str(first), str(frames)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} failed ({engine}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shot", type=Path, help="a shot folder made by bench/throughput.py")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 8], help="the run's cpu_threads")
    parser.add_argument("--baseline", help="git revision to measure side by side")
    parser.add_argument("--repeat", type=int, default=2, help="rounds, the revisions' order reversed every other")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vmhq-decode-"))
    shot = args.shot
    if shot is None:
        from throughput import make_shot  # this revision's engine, for the shot

        shot = tmp / "shot"
        make_shot(shot, *map(int, args.size.split("x")), args.frames)
    pattern = str(shot / "plate" / "plate.####.exr")
    first = min(int(p.name.split(".")[1]) for p in (shot / "plate").glob("plate.*.exr"))
    print("| phase | threads | revision | round | wall s/f | user s/f | sys s/f | peak RSS MiB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    with revisions.engines(args.baseline, tmp) as engines:
        for phase in ("check", "pass"):
            for threads in args.threads:
                for round_ in range(1, args.repeat + 1):
                    for name, engine in revisions.in_round(engines, round_):
                        r = measure(engine, phase, pattern, threads, first, args.frames)
                        n = args.frames
                        print(f"| {phase} | {threads} | {name} | {round_} | {r['wall_s'] / n:.3f} | "
                              f"{r['user_s'] / n:.3f} | {r['sys_s'] / n:.3f} | {r['peak_rss_mib']} |", flush=True)


if __name__ == "__main__":
    main()
