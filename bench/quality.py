"""Quality on the public benchmark clips: run the engine, score with ../shared/bench/eval.py.

    python bench/quality.py [--bench ../shared/bench] [--clips DIR] [--out bench/results/quality]
                            [--backends flow closed_form]   # or: sam2 mematte, with the model files installed
                            [--baseline REV]                # the same runs with another revision's engine
                            [--engine-args "--trimap-band wider"]   # more options for every run

`--clips` scores other clips made by the benchmark's generator, e.g. the variants in bench/variant_clips.json
(`python ../shared/bench/make_bench.py --params bench/variant_clips.json --out DIR`; it needs scikit-image): the
tracker is tuned on the public clips, these say whether that holds elsewhere.

Prints markdown tables (whole frame and edge band, with the 'anchor repeated' baseline), and per run the
worst and mean per-frame false foreground (alpha >= 0.5 where the ground truth is 0, % of the frame), the
segment stage's seconds per frame, and the frames this revision's drift check (videomatte_hq.drift) flags in
that run's alpha, for the baseline's too. Writes everything as JSON to OUT/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import revisions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))
from videomatte_hq.drift import DriftCheck  # noqa: E402
from videomatte_hq.io.images import read_image, write_image  # noqa: E402

METRICS = ("SAD", "MSE", "Grad", "Conn", "dtSSD", "MESSDdt")


def evaluate(eval_py: Path, clip: Path, pred: list[str]) -> dict:
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"vmhq_eval_{clip.name}.json"
    subprocess.run([sys.executable, str(eval_py), *pred, "--gt", str(clip), "--json", str(report)],
                   check=True, capture_output=True)
    return json.loads(report.read_text())


def clip_means(report: dict) -> dict:
    """eval.py's JSON for one clip: the clip means per region."""
    return {region: {m: report[region][m] for m in METRICS} for region in ("full", "edge")}


def per_frame(clip: Path, alpha_dir: Path) -> dict:
    """False foreground per frame (% of the frame) and the drift check's verdicts on the written alpha."""
    frames = json.loads((clip / "clip.json").read_text())["frames"]
    alphas = sorted(alpha_dir.iterdir())
    check = DriftCheck({frames[0]: read_image(clip / "anchor.png")[0][..., 0]})
    false_fg, drifted = [], []
    for frame, path in zip(frames, alphas):
        alpha = read_image(path)[0][..., 0]
        truth = read_image(clip / "alpha_gt" / f"{frame:04d}.png")[0][..., 0]
        false_fg.append(round(float(((alpha >= 0.5) & (truth == 0)).mean() * 100), 3))
        if check.departure(frame, alpha):
            drifted.append(frame)
    return {"false_fg_pct": false_fg, "drift_suspected_frames": drifted}


def picture(clip: Path, runs: dict[str, Path], path: Path) -> None:
    """One row per run: the plate (sRGB), the alpha, and alpha - truth (red: too much, green: missing)."""
    frame = json.loads((clip / "clip.json").read_text())["frames"][-1]
    plate = read_image(clip / "plate_png" / f"{frame:04d}.png")[0][..., :3]
    truth = read_image(clip / "alpha_gt" / f"{frame:04d}.png")[0][..., 0]
    rows = []
    for alpha_dir in runs.values():
        alpha = read_image(sorted(alpha_dir.iterdir())[-1])[0][..., 0]
        diff = np.zeros_like(plate)
        diff[..., 0], diff[..., 1] = np.clip(alpha - truth, 0, 1), np.clip(truth - alpha, 0, 1)
        rows.append(np.hstack([plate, np.repeat(alpha[..., None], 3, axis=2), diff]))
    image = np.vstack(rows)[::2, ::2]  # half size: the docs picture
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.ascontiguousarray(image), "uint8", ("R", "G", "B"))


def run(eval_py: Path, engine: Path, clip: Path, plates: str, out: Path, backends: list[str],
        extra: list[str]) -> dict:
    ext = "exr" if plates == "plate" else "png"
    env = {**os.environ, "PYTHONPATH": str(engine)}
    subprocess.run([sys.executable, "-m", "videomatte_hq", "--input", str(clip / plates / f"####.{ext}"),
                    "--anchor-mask", str(clip / "anchor.png"), "--output-dir", str(out), "--overwrite",
                    "--segment-backend", backends[0], "--refine-backend", backends[1], "--progress", "none", *extra],
                   check=True, env=env, capture_output=True)
    summary = json.loads((out / "run_summary.json").read_text())
    return {"means": clip_means(evaluate(eval_py, clip, ["--pred", str(out / "alpha")])),
            "segment_s_per_frame": summary["stage_seconds"]["segment"] / summary["frame_count"],
            "engine_drift_frames": summary.get("drift_suspected_frames"), **per_frame(clip, out / "alpha")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--clips", type=Path, help="folder of clips (default: BENCH/public)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality")
    parser.add_argument("--plates", nargs="+", default=["plate", "plate_png"])
    parser.add_argument("--backends", nargs=2, default=["flow", "closed_form"], metavar=("SEGMENT", "REFINE"))
    parser.add_argument("--engine-args", default="", help="more command-line options for every engine run")
    parser.add_argument("--baseline", help="git revision whose engine runs the same clips (a temporary worktree)")
    parser.add_argument("--picture", type=Path, help="folder for late_frame_<clip>.png: the last frame of the EXR "
                                                     "runs (one row per revision): plate, alpha, alpha - truth")
    args = parser.parse_args()
    eval_py = args.bench / "eval.py"
    rows = []
    with revisions.engines(args.baseline, Path(tempfile.mkdtemp(prefix="vmhq-quality-"))) as engines:
        for clip in sorted((args.clips or args.bench / "public").iterdir()):
            anchor = clip_means(evaluate(eval_py, clip, ["--baseline", "anchor"]))
            rows.append({"clip": clip.name, "method": "(a) anchor repeated", "means": anchor})
            for plates in args.plates:
                for name, engine in engines.items():
                    result = run(eval_py, engine, clip, plates, args.out / name / clip.name / plates, args.backends,
                                 shlex.split(args.engine_args))
                    rows.append({"clip": clip.name, "method": f"{' + '.join(args.backends)}, {plates}/, {name}",
                                 **result})
                    print(json.dumps(rows[-1]), flush=True)
            if args.picture and "plate" in args.plates:
                picture(clip, {name: args.out / name / clip.name / "plate" / "alpha" for name in engines},
                        args.picture / f"late_frame_{clip.name}.png")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(rows, indent=1))
    for region in ("edge", "full"):
        print(f"\n**{region}**\n")
        print("| clip | method | " + " | ".join(METRICS) + " |")
        print("|---|---|" + "---:|" * len(METRICS))
        for row in rows:
            print(f"| {row['clip']} | {row['method']} | " +
                  " | ".join(f"{row['means'][region][m]:.3f}" for m in METRICS) + " |")
    print("\n| clip | method | false fg % worst frame | mean | segment s/frame | drift check flags |")
    print("|---|---|---:|---:|---:|---|")
    for row in rows:
        if "false_fg_pct" in row:
            flags = row["drift_suspected_frames"]
            print(f"| {row['clip']} | {row['method']} | {max(row['false_fg_pct']):.2f} | "
                  f"{np.mean(row['false_fg_pct']):.2f} | {row['segment_s_per_frame']:.2f} | "
                  f"{', '.join(map(str, flags)) if flags else 'none'} |")


if __name__ == "__main__":
    main()
