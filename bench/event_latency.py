"""How late each alpha's `frame_done` event comes after its file is on disk (the file's mtime), per frame, for
this revision's engine or another checkout's.

    python bench/event_latency.py [--engine-dir DIR] [--size 1920x1080] [--frames 6]

A host that shows or reloads frames as they are written waits this long; the run's live report counts frames
that late. Weight-free backends (flow + closed_form: a slow CPU refine, where the lag showed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine-dir", type=Path, default=ROOT / "engine", help="an engine/ folder to measure")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, str(args.engine_dir))
    from videomatte_hq import run
    from videomatte_hq.config import build_config
    from videomatte_hq.synthetic import make_example

    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        shot = make_example(Path(tmp) / "shot", width, height, args.frames, 1001, "exr")
        out = Path(tmp) / "out"
        sent: dict[int, float] = {}

        def on_event(event: dict) -> None:
            if event["event"] == "frame_done" and event["stage"] == "refine":
                sent[event["frame"]] = time.time()

        config = build_config(None, {"input": shot["input"], "anchor_mask": shot["anchor"], "output_dir": str(out),
                                     "segment_backend": "flow", "refine_backend": "closed_form", "progress": "none"})
        run(config, on_event=on_event)
        lags = [sent[f] - os.stat(out / "alpha" / f"{f:06d}.png").st_mtime for f in sorted(sent)]
    print(f"{args.engine_dir}: seconds from each alpha on disk to its frame_done: "
          + " ".join(f"{lag:.2f}" for lag in lags))


if __name__ == "__main__":
    main()
