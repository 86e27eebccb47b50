"""Foreground colour (--foreground): quality against the benchmark clips' ground truth, and its cost.

    python bench/foreground.py [--bench ../shared/bench] [--out bench/results/foreground]
                               [--sizes 1920x1080 3840x2160] [--frames 4] [--skip-quality] [--skip-cost]

Quality: per clip (EXR plates, scene-linear like fg_gt), the error of aF against the ground truth's a_gt F_gt
inside the band (0 < a < 1 in either matte): MSE and SAD (sum of |error| over band pixels, mean of the
channels, / 1000), clip means, for our estimate (videomatte_hq.refine.foreground) and the naive F = plate,
(1) with the ground-truth alpha, (2) with our alpha: the engine run with the weight-free backends and
--foreground, its alpha and foreground files read back; there also the true F under our alpha, the bound no
foreground estimate can pass (the rest is the alpha's own error).
Cost: the CLI on the generated example shot at each size, without and with --foreground, in fresh processes:
wall time, the refine stage's seconds (run_summary.json) and peak RSS (wait4); and the estimator alone on a
hair_pan frame resized to each size (its seconds and the RSS it adds, in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))
sys.path.insert(0, str(ROOT / "bench"))
from memory import run_measured  # noqa: E402
from videomatte_hq.io.images import read_image  # noqa: E402
from videomatte_hq.refine.foreground import estimate_foreground  # noqa: E402
from videomatte_hq.synthetic import make_example  # noqa: E402

WEIGHT_FREE = ["--segment-backend", "flow", "--refine-backend", "closed_form"]


def errors(alpha: np.ndarray, foreground: np.ndarray, truth_alpha: np.ndarray, truth_fg: np.ndarray) -> dict:
    band = ((alpha > 0) & (alpha < 1)) | ((truth_alpha > 0) & (truth_alpha < 1))
    diff = (alpha[..., None] * foreground - truth_alpha[..., None] * truth_fg)[band]
    return {"MSE": float((diff ** 2).mean()), "SAD": float(np.abs(diff).mean(axis=1).sum() / 1000)}


def mean(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def quality(clip: Path, work: Path) -> dict:
    frames = json.loads((clip / "clip.json").read_text())["frames"]
    out = work / clip.name
    run_measured(["-i", str(clip / "plate" / "####.exr"), "--anchor-mask", str(clip / "anchor.png"), "-o", str(out),
                  *WEIGHT_FREE, "--foreground", "--alpha-format", "exr32", "--progress", "none"])
    rows: dict[str, list[dict]] = {k: [] for k in ("gt_ours", "gt_naive", "run_ours", "run_naive", "run_truth")}
    for frame in frames:
        plate = read_image(clip / "plate" / f"{frame:04d}.exr")[0][..., :3]
        truth_alpha = read_image(clip / "alpha_gt" / f"{frame:04d}.png")[0][..., 0]
        truth_fg = read_image(clip / "fg_gt" / f"{frame:04d}.exr")[0][..., :3]
        rows["gt_ours"].append(errors(truth_alpha, estimate_foreground(plate, truth_alpha), truth_alpha, truth_fg))
        rows["gt_naive"].append(errors(truth_alpha, plate, truth_alpha, truth_fg))
        alpha = read_image(out / "alpha" / f"{frame:06d}.exr")[0][..., 0]
        ours = read_image(out / "foreground" / f"{frame:06d}.exr")[0][..., :3]
        rows["run_ours"].append(errors(alpha, ours, truth_alpha, truth_fg))
        rows["run_naive"].append(errors(alpha, plate, truth_alpha, truth_fg))
        # The bound: the true F (ours where the truth has none) under our alpha; what is left is the alpha's error.
        rows["run_truth"].append(errors(alpha, np.where(truth_alpha[..., None] > 0, truth_fg, ours), truth_alpha,
                                        truth_fg))
    return {k: mean(v) for k, v in rows.items()}


def estimator_alone(plate: Path, alpha: Path, size: str) -> dict:
    """In a fresh process: a benchmark frame's plate and ground-truth alpha resized to `size` (a real hair band,
    scaled), then estimate_foreground three times; seconds per call and its peak RSS over what was resident with
    the frame loaded."""
    width, height = map(int, size.split("x"))
    code = f"""
import json, resource, sys, time
import cv2, numpy as np
sys.path.insert(0, {str(ROOT / 'engine')!r})
from videomatte_hq.io.images import read_image
from videomatte_hq.refine.foreground import estimate_foreground
plate = cv2.resize(read_image({str(plate)!r})[0][..., :3], ({width}, {height}), interpolation=cv2.INTER_LINEAR)
alpha = cv2.resize(read_image({str(alpha)!r})[0][..., 0], ({width}, {height}), interpolation=cv2.INTER_LINEAR)
ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
estimate_foreground(np.zeros((32, 32, 3), np.float32), ramp)  # numba's cache load, not the estimate
# resident now (not the high-water mark: the decode's freed temporaries would hide the estimator's own)
before = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
started = time.perf_counter()
for _ in range(3):
    estimate_foreground(plate, alpha)
seconds = (time.perf_counter() - started) / 3
band = float(((alpha > 0) & (alpha < 1)).mean() * 100)
print(json.dumps({{"s_per_frame": round(seconds, 3), "band_pct": round(band, 2),
                  "added_rss_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cost(size: str, frames: int, work: Path, clip: Path) -> dict:
    width, height = map(int, size.split("x"))
    shot = make_example(work / f"shot_{size}", width, height, frames)
    result = {"estimator": estimator_alone(clip / "plate" / "1012.exr", clip / "alpha_gt" / "1012.png", size)}
    for label, extra in (("off", []), ("on", ["--foreground"])):
        out = work / f"out_{size}_{label}"
        rss, wall = run_measured(["-i", shot["input"], "--anchor-mask", shot["anchor"], "-o", str(out),
                                  *WEIGHT_FREE, "--progress", "none", *extra])
        refine = json.loads((out / "run_summary.json").read_text())["stage_seconds"]["refine"]
        result[label] = {"wall_s": round(wall, 2), "refine_s": round(refine, 2), "peak_rss_mib": round(rss)}
    result["foreground_s_per_frame"] = round((result["on"]["refine_s"] - result["off"]["refine_s"]) / frames, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "foreground")
    parser.add_argument("--sizes", nargs="+", default=["1920x1080", "3840x2160"])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quality:
            report["quality"] = {clip.name: quality(clip, Path(tmp))
                                 for clip in sorted((args.bench / "public").iterdir()) if clip.is_dir()}
            print("| clip | alpha | F | MSE (band) | SAD/1000 (band) |\n|---|---|---|---:|---:|")
            for name, rows in report["quality"].items():
                for key, value in rows.items():
                    alpha, method = key.split("_")
                    label = {"ours": "estimated", "naive": "plate (naive)", "truth": "ground-truth F (bound)"}[method]
                    print(f"| {name} | {'ground truth' if alpha == 'gt' else 'ours (flow + closed_form)'} | "
                          f"{label} | {value['MSE']:.6f} | {value['SAD']:.3f} |")
        if not args.skip_cost:
            hair = args.bench / "public" / "hair_pan"
            report["cost"] = {size: cost(size, args.frames, Path(tmp), hair) for size in args.sizes}
            print(f"\n| size | --foreground | wall s ({args.frames} frames) | refine s | peak RSS MiB |\n"
                  "|---|---|---:|---:|---:|")
            for size, rows in report["cost"].items():
                for label in ("off", "on"):
                    r = rows[label]
                    print(f"| {size} | {label} | {r['wall_s']} | {r['refine_s']} | {r['peak_rss_mib']} |")
                print(f"| {size} | foreground s/frame | | {rows['foreground_s_per_frame']} | |")
            print("\n| size (hair_pan 1012 resized) | band % of frame | estimate_foreground s/frame | RSS it adds MiB |"
                  "\n|---|---:|---:|---:|")
            for size, rows in report["cost"].items():
                e = rows["estimator"]
                print(f"| {size} | {e['band_pct']} | {e['s_per_frame']} | {e['added_rss_mib']} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "foreground.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
