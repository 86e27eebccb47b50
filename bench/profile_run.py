"""Where a run's wall time goes, thread by thread: the engine run in-process under yappi's wall clock (every
thread: the loop, the tracker, the read-ahead and the writers), on a shot made by bench/throughput.py.

    python bench/profile_run.py SHOT_DIR '{"segment_backend": "sam2", "device": "cuda", ...}' [--top 14]

Needs `pip install yappi` (a profiling tool, not an engine dependency). Prints the run's milestones (seconds
from the start to each event: the stages, the refine plan, each stage's first frames) and, per thread, the
engine's functions by inclusive wall time (a tracker thread's time in `read` is its wait for decoded frames).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yappi

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "engine"), str(BENCH)]

from throughput import make_shot  # noqa: E402
from videomatte_hq import run  # noqa: E402
from videomatte_hq.config import build_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shot", type=Path)
    parser.add_argument("settings", help="JSON: config overrides (backends, device, model paths)")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--top", type=int, default=14)
    args = parser.parse_args()
    if not (args.shot / "anchor.png").exists():
        make_shot(args.shot, *map(int, args.size.split("x")), args.frames)
    settings = {"input": str(args.shot / "plate" / "plate.####.exr"), "anchor_mask": str(args.shot / "anchor.png"),
                "output_dir": str(args.shot.parent / "profile-out"), "overwrite": True, "progress": "none",
                "allow_external_paths": True, **json.loads(args.settings)}
    config = build_config(None, settings)
    timeline: list[tuple[float, dict]] = []
    seen: dict[tuple, int] = {}

    def on_event(event: dict) -> None:
        """The run's milestones: every event but frame_done, of which each stage's first two."""
        key = (event["event"], event.get("stage"))
        seen[key] = seen.get(key, 0) + 1
        if event["event"] != "frame_done" or seen[key] <= 2:
            timeline.append((time.perf_counter() - started, event))

    yappi.set_clock_type("wall")
    yappi.start()
    started = time.perf_counter()
    report = run(config, on_event).to_dict()
    yappi.stop()
    print(json.dumps({k: report[k] for k in ("stage_seconds", "frame_count", "tiles")}))
    print("\n| s | event |\n|---:|---|")
    for seconds, event in timeline:
        fields = {k: v for k, v in event.items() if k in ("stage", "frame", "mode", "batch_size", "message")}
        print(f"| {seconds:.2f} | {event['event']} {json.dumps(fields)} |")
    names = {t.id: t.name for t in yappi.get_thread_stats()}
    stats = yappi.get_func_stats()
    for ctx, name in names.items():
        rows = [s for s in stats if s.ctx_id == ctx and "videomatte_hq" in s.module]
        if not rows:
            continue
        print(f"\n## thread {name} ({ctx})\n\n| function | calls | inclusive s | own s |\n|---|---:|---:|---:|")
        for s in sorted(rows, key=lambda s: -s.ttot)[:args.top]:
            print(f"| {Path(s.module).name}:{s.lineno} {s.name} | {s.ncall} | {s.ttot:.2f} | {s.tsub:.2f} |")


if __name__ == "__main__":
    main()
