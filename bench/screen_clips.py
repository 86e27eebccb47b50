"""Benchmark clips re-shot on a green screen: each clip's ground-truth foreground and alpha composited over a flat,
slightly uneven green, so `plate = alpha * fg + (1 - alpha) * screen` holds exactly as in the originals.

    python bench/screen_clips.py OUT [--clips ../shared/bench/public]
    python bench/quality.py --clips OUT

A screen has no texture: the weight-free tracker finds no camera motion there and decides by colour alone.
Writes OUT/<clip>_green/ with plate/ (linear half EXR), plate_png/ (8-bit sRGB), alpha_gt/, anchor.png and
clip.json, as the generator lays clips out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))
from videomatte_hq.io.colour import linear_to_srgb  # noqa: E402
from videomatte_hq.io.images import read_image, write_image  # noqa: E402

SCREEN = np.array([0.04, 0.35, 0.06])  # linear Rec.709 green; 8 % brighter towards the bottom, 2 % grain


def screen(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    uneven = SCREEN * (1 + 0.25 * ys - 0.1 * xs)[..., None]
    return uneven * (1 + 0.02 * rng.standard_normal((height, width, 1)))


def make(clip: Path, out: Path) -> None:
    for sub in ("plate", "plate_png"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    shutil.copytree(clip / "alpha_gt", out / "alpha_gt", dirs_exist_ok=True)
    shutil.copy(clip / "anchor.png", out / "anchor.png")
    meta = json.loads((clip / "clip.json").read_text())
    (out / "clip.json").write_text(json.dumps({**meta, "name": out.name}, indent=1))
    rng = np.random.default_rng(1)
    for frame in meta["frames"]:
        alpha = read_image(clip / "alpha_gt" / f"{frame:04d}.png")[0][..., :1]
        fg = read_image(clip / "fg_gt" / f"{frame:04d}.exr")[0][..., :3]
        plate = (alpha * fg + (1 - alpha) * screen(*alpha.shape[:2], rng)).astype(np.float32)
        write_image(out / "plate" / f"{frame:04d}.exr", plate, "half", ("R", "G", "B"))
        write_image(out / "plate_png" / f"{frame:04d}.png", linear_to_srgb(plate), "uint8", ("R", "G", "B"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "bench" / "public")
    args = parser.parse_args()
    for clip in sorted(p for p in args.clips.iterdir() if (p / "fg_gt").is_dir()):
        make(clip, args.out / f"{clip.name}_green")
        print(f"wrote {args.out / (clip.name + '_green')}", flush=True)


if __name__ == "__main__":
    main()
