"""Quality on the public benchmark clips: run the engine, score with ../shared/bench/eval.py.

    python bench/quality.py [--bench ../shared/bench] [--out bench/results/quality]
                            [--backends flow closed_form]   # or: sam2 mematte, with the model files installed

Prints a markdown table (whole frame and edge band) with the 'anchor repeated' baseline for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("SAD", "MSE", "Grad", "Conn", "dtSSD", "MESSDdt")


def evaluate(eval_py: Path, clip: Path, pred: list[str]) -> dict:
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"vmhq_eval_{clip.name}.json"
    subprocess.run([sys.executable, str(eval_py), *pred, "--gt", str(clip), "--json", str(report)],
                   check=True, capture_output=True)
    return json.loads(report.read_text())


def clip_means(report: dict) -> dict:
    """eval.py's JSON for one clip: the clip means per region."""
    return {region: {m: report[region][m] for m in METRICS} for region in ("full", "edge")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality")
    parser.add_argument("--plates", nargs="+", default=["plate", "plate_png"])
    parser.add_argument("--backends", nargs=2, default=["flow", "closed_form"], metavar=("SEGMENT", "REFINE"))
    args = parser.parse_args()
    eval_py = args.bench / "eval.py"
    rows = []
    for clip in sorted((args.bench / "public").iterdir()):
        rows.append((clip.name, "(a) anchor repeated", clip_means(evaluate(eval_py, clip, ["--baseline", "anchor"])), 0))
        for plates in args.plates:
            ext = "exr" if plates == "plate" else "png"
            out = args.out / clip.name / plates
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "videomatte_hq", "--input", str(clip / plates / f"####.{ext}"),
                            "--anchor-mask", str(clip / "anchor.png"), "--output-dir", str(out), "--overwrite",
                            "--segment-backend", args.backends[0], "--refine-backend", args.backends[1],
                            "--progress", "none"], check=True)
            seconds = time.perf_counter() - t0
            report = evaluate(eval_py, clip, ["--pred", str(out / "alpha")])
            rows.append((clip.name, f"{' + '.join(args.backends)}, {plates}/ ({ext})", clip_means(report), seconds))
    for region in ("edge", "full"):
        print(f"\n**{region}**\n")
        print("| clip | method | " + " | ".join(METRICS) + " | wall s |")
        print("|---|---|" + "---:|" * (len(METRICS) + 1))
        for name, method, means, seconds in rows:
            values = " | ".join(f"{means[region][m]:.3f}" for m in METRICS)
            print(f"| {name} | {method} | {values} | {seconds:.0f} |" if seconds else f"| {name} | {method} | {values} | – |")


if __name__ == "__main__":
    main()
