"""Model loading: SAM2 built by ultralytics with and without torch's random init before the checkpoint load, its
checkpoint memory-mapped or read whole.

    python bench/model_load.py [--model sam2_l] [--repeat 3]

Writes a generated checkpoint of the model (ultralytics' own build, random init) to a temporary folder, then
loads it the way the engine does (`ultralytics_models.load_model`) in fresh processes, with weight init skipped
and the file mapped (the engine), read whole instead, and with both of ultralytics' defaults, and checks all give
the same weights. Prints seconds (median).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import contextlib, json, sys, time
sys.path.insert(0, {engine!r})
from videomatte_hq import ultralytics_models as um
if {with_init}:
    um.skip_weight_init = contextlib.nullcontext
if {whole}:
    um.mapped_checkpoints = contextlib.nullcontext
import torch
t0 = time.perf_counter()
model = um.load_model({path!r}, {name!r})
seconds = time.perf_counter() - t0
digest = sum(float(v.double().abs().sum()) for v in model.model.state_dict().values() if v.is_floating_point())
print(json.dumps({{"seconds": seconds, "digest": digest}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="sam2_l", choices=["sam2_t", "sam2_s", "sam2_b", "sam2_l"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "engine"))
    from videomatte_hq.ultralytics_models import configure_offline

    configure_offline()
    import torch
    from ultralytics.models.sam import build

    tmp = Path(tempfile.mkdtemp(prefix="vmhq-load-"))
    path = tmp / f"{args.model}.pt"
    torch.save({"model": getattr(build, f"build_{args.model}")(checkpoint=None).state_dict()}, path)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "engine")}
    results = {}
    for label, with_init, whole in (("init skipped, file mapped (engine)", False, False),
                                    ("init skipped, file read whole", False, True),
                                    ("random init first, file read whole (ultralytics)", True, True)):
        runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD.format(
            engine=str(ROOT / "engine"), with_init=with_init, whole=whole, path=str(path), name=path.name)],
            check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1])
            for _ in range(args.repeat)]
        results[label] = runs
    digests = {r["digest"] for runs in results.values() for r in runs}
    print(f"\n{args.model}, median of {args.repeat} fresh processes, torch threads {torch.get_num_threads()}\n")
    print("| build | load s |\n|---|---:|")
    for label, runs in results.items():
        print(f"| {label} | {statistics.median(r['seconds'] for r in runs):.2f} |")
    print(f"\nsame weights after loading: {len(digests) == 1}")
    path.unlink()


if __name__ == "__main__":
    main()
