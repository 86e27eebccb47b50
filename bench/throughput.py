"""Throughput of the whole run on a generated 4K EXR shot: the host path alone (no-op backends, registered
through the backend registry) and real backends; side by side with a baseline revision in one invocation.

    .venv/bin/python bench/throughput.py [--frames 20] [--size 3840x2160] [--baseline caecbe5]
        [--backends noop:noop flow:closed_form] [--device cpu|cuda] [--precision fp16]
        [--sam-model PATH] [--mematte-checkpoint PATH] [--imgsz 256] [--anchor-frame 1004] [--repeat 3]

Each measurement is a fresh process (bench/throughput_child.py), which reports its own peak RSS; the baseline
runs from a temporary git worktree of REV. Prints seconds per frame per stage, the run's wall time per frame
(the preflight included: the ratios are of it), the same after the preflight, peak RSS, the largest alpha
difference between the revisions' outputs, the time to the first alpha on disk (the fixed costs) and the time
per alpha after it (the steady rate; revisions before the engine's events leave both empty), and writes them as
JSON to bench/results/throughput.json. (The reports' own `total` is not compared: before 82eeb02 it counted the
preflight, after it not.) With `--repeat N` each revision runs N times, the order
reversed every other round, and the medians are printed too.
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

import cv2
import numpy as np
import revisions

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "engine"))  # this revision's engine, for the shot and the comparisons


def make_shot(folder: Path, width: int, height: int, frames: int) -> dict[str, str]:
    """The generated example shot (soft figure over a panning texture) rendered small, scaled to the size
    asked, written as half-float linear EXR with its anchor."""
    from videomatte_hq.io.images import read_image, write_image
    from videomatte_hq.synthetic import make_example

    small = make_example(folder / "small", width // 4, height // 4, frames, 1001, "exr")
    for i in range(frames):
        pixels = read_image(Path(small["input"].replace("####", f"{1001 + i:04d}")))[0]
        big = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_CUBIC)
        write_image(folder / "plate" / f"plate.{1001 + i:04d}.exr", big, "half", ("R", "G", "B"))
    anchor = read_image(Path(small["anchor"]))[0][..., 0]
    write_image(folder / "anchor.png", cv2.resize(anchor, (width, height), interpolation=cv2.INTER_NEAREST),
                "uint8", ("Y",))
    return {"input": str(folder / "plate" / "plate.####.exr"), "anchor": str(folder / "anchor.png")}


def alpha_difference(ours: Path, theirs: Path) -> int:
    """The largest difference between the two runs' alpha files, in png16 code values."""
    from videomatte_hq.io.images import read_image

    names = sorted(p.name for p in (theirs / "alpha").glob("*.png"))
    if not names or names != sorted(p.name for p in (ours / "alpha").glob("*.png")):
        raise SystemExit(f"the runs wrote different alpha files: {ours} vs {theirs}")
    return max(int(np.abs(np.round(read_image(ours / "alpha" / n)[0] * 65535)
                          - np.round(read_image(theirs / "alpha" / n)[0] * 65535)).max()) for n in names)


def measure(engine: Path, settings: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(engine), str(BENCH),
                                                                      os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(BENCH / "throughput_child.py"), json.dumps(settings)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({engine}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def blank(value) -> str:
    """A table cell: empty where a revision or a device could not measure it."""
    return "" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="3840x2160")
    parser.add_argument("--baseline", help="git revision to measure side by side")
    parser.add_argument("--baseline-dir", type=Path,
                        help="a checkout of --baseline already on disk (where there is no git history)")
    parser.add_argument("--backends", nargs="+", default=["noop:noop"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--refine-mode", nargs="+", default=[None],
                        help="refine_mode values to measure each backend pair with (auto|full|tiled)")
    parser.add_argument("--sam-model")
    parser.add_argument("--imgsz", type=int, help="SAM2's input size (a CPU run of sam2 at 1024 takes minutes)")
    parser.add_argument("--anchor-frame", type=int,
                        help="anchor inside the shot: forward then backward propagation, the stages one after the "
                             "other (default: the first frame, one pass)")
    parser.add_argument("--mematte-checkpoint")
    parser.add_argument("--preflight", choices=["full", "headers"],
                        help="the plate check of every revision (default: each one's own, full)")
    parser.add_argument("--shot", type=Path, help="reuse a shot folder made by an earlier run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each revision this many times, the order of the revisions reversed every other "
                             "round (on a shared machine a process's place in the sequence moves its time); prints "
                             "the medians")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="vmhq-throughput-"))
    shot = (make_shot(args.shot or tmp / "shot", width, height, args.frames)
            if not (args.shot and (args.shot / "anchor.png").exists())
            else {"input": str(args.shot / "plate" / "plate.####.exr"), "anchor": str(args.shot / "anchor.png")})
    # This revision's half-float colour pass is compiled by numba once per install and cached: compiled here,
    # before any measured run (3 s on the H100 host), as on any machine after its first run.
    from videomatte_hq.io.colour import to_model_rgb

    to_model_rgb(np.zeros((1, 1, 3), np.float16), True)
    rows = []
    with revisions.engines(args.baseline, tmp, args.baseline_dir) as engines:
        for pair, mode in ((p, m) for p in args.backends for m in args.refine_mode):
            segment, refine = pair.split(":")
            for round_ in range(1, args.repeat + 1):
                measured = []
                for name, engine in revisions.in_round(engines, round_):
                    settings = {"input": shot["input"], "anchor_mask": shot["anchor"],
                                "output_dir": str(tmp / f"out-{name}"),
                                "segment_backend": segment, "refine_backend": refine, "overwrite": True,
                                "device": args.device, "precision": args.precision, "progress": "none",
                                "allow_external_paths": True, "model": args.sam_model,
                                "mematte_checkpoint": args.mematte_checkpoint, "refine_mode": mode,
                                "imgsz": args.imgsz, "anchor_frame": args.anchor_frame, "preflight": args.preflight}
                    result = measure(engine, {k: v for k, v in settings.items() if v is not None})
                    n = result["frame_count"]
                    per = {k: round(v / n, 3) for k, v in result["stage_seconds"].items() if k != "total"}
                    per["run"] = round(result["wall_seconds"] / n, 3)
                    per["after_preflight"] = round(per["run"] - per["preflight"], 3)
                    measured.append({"revision": name, "backends": pair + (f" ({mode})" if mode else ""),
                                     "round": round_, "frames": n, "per_frame_s": per,
                                     "peak_rss_mib": result["peak_rss_mib"], "tiles": result["tiles"],
                                     "gpu_busy": result.get("gpu_busy"), "first_alpha_s": result.get("first_alpha_s"),
                                     "steady_s_per_frame": result.get("steady_s_per_frame")})
                for row in measured:  # against this revision's alphas of the same round
                    if row["revision"] != "this":
                        row["alpha_codes_max_diff"] = alpha_difference(tmp / "out-this", tmp / f"out-{row['revision']}")
                    print(json.dumps(row), flush=True)
                rows += measured
    print(f"\n{width}x{height}, {args.frames} frames, device {args.device}, precision {args.precision}"
          f"{f', preflight {args.preflight}' if args.preflight else ''}\n")
    print("| backends | revision | preflight s/f | segment s/f | refine s/f | after preflight s/f | run s/f "
          "| peak RSS MiB | speed-up | alpha max diff (png16 codes) | GPU busy | first alpha s | steady s/f |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        base = next((r for r in rows if r["backends"] == row["backends"] and r["round"] == row["round"]
                     and r["revision"] == args.baseline), None)
        p = row["per_frame_s"]
        ratio = f"{base['per_frame_s']['run'] / p['run']:.2f}x" if base and base is not row else ""
        label = row["backends"] + (f", round {row['round']}" if args.repeat > 1 else "")
        print(f"| {label} | {row['revision']} | {p.get('preflight', 0)} | {p.get('segment', 0)} | "
              f"{p.get('refine', 0)} | {p['after_preflight']} | {p['run']} | {row['peak_rss_mib']} | {ratio} | "
              f"{row.get('alpha_codes_max_diff', '')} | {blank(row['gpu_busy'])} | {blank(row['first_alpha_s'])} | "
              f"{blank(row['steady_s_per_frame'])} |")
    if args.repeat > 1:
        print("\nmedian run s/f (the preflight included) over the rounds:")
        for backends in dict.fromkeys(r["backends"] for r in rows):
            medians = {name: statistics.median(r["per_frame_s"]["run"] for r in rows
                                               if r["backends"] == backends and r["revision"] == name)
                       for name in engines}
            print(f"  {backends}: " + ", ".join(f"{name} {value:.3f}" for name, value in medians.items()))
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "throughput.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
