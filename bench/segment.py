"""Stage 1 (SAM2) cost: per-frame time and peak RSS vs clip length, at two plate sizes.

    python bench/segment.py [--sizes 960x540 3840x2160] [--frames 10 40] [--imgsz 1024]

Generated sam2_t weights (random init in ultralytics' checkpoint format: the compute does
not depend on the values). The generated example shot is rendered at 960x540 and scaled
up for larger sizes. Each run is the whole CLI (`--stage segment`) in a fresh process;
peak RSS is its ru_maxrss. Memory must not grow with the number of frames.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2

from memory import run_measured
from videomatte_hq.io.images import read_image, write_image
from videomatte_hq.synthetic import make_example


def sam2_t(folder: Path) -> Path:
    import torch
    from ultralytics.models.sam.build import build_sam2_t

    path = folder / "sam2_t.pt"
    torch.manual_seed(0)
    torch.save({"model": build_sam2_t(checkpoint=None).state_dict()}, path)
    return path


def shot(folder: Path, width: int, height: int, frames: int) -> dict[str, str]:
    base = make_example(folder / "base", 960, 540, frames, fmt="png")
    if (width, height) == (960, 540):
        return base
    out = folder / f"{width}x{height}"
    for src in sorted(Path(base["input"]).parent.iterdir()):
        write_image(out / src.name, cv2.resize(read_image(src)[0], (width, height), interpolation=cv2.INTER_CUBIC),
                    "uint8", ("R", "G", "B"))
    anchor = cv2.resize(read_image(Path(base["anchor"]))[0], (width, height), interpolation=cv2.INTER_NEAREST)
    write_image(out / "anchor.png", anchor, "uint8", ("Y",))
    return {"input": str(out / "plate.####.png"), "anchor": str(out / "anchor.png")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["960x540", "3840x2160"])
    parser.add_argument("--frames", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--imgsz", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = sam2_t(tmp)
        print(f"imgsz {args.imgsz}, sam2_t, {args.threads} threads\n\n"
              "| size | frames | peak RSS MiB | wall s | s/frame |\n|---|---:|---:|---:|---:|")
        for size in args.sizes:
            width, height = map(int, size.split("x"))
            plate = shot(tmp / size, width, height, max(args.frames))
            for count in args.frames:
                rss, wall = run_measured([
                    "-i", plate["input"], "--anchor-mask", plate["anchor"], "-o", str(tmp / f"out{size}_{count}"),
                    "--frame-end", str(1000 + count), "--stage", "segment", "--progress", "none",
                    "--sam-model", str(model), "--imgsz", str(args.imgsz), "--threads", str(args.threads)])
                print(f"| {size} | {count} | {rss:.0f} | {wall:.1f} | {wall / count:.2f} |", flush=True)


if __name__ == "__main__":
    main()
