"""PNG compression level and row filter for alpha/trimap files: size vs write time (OpenImageIO's
png:compressionLevel and png:filter).

    .venv/bin/python bench/png_level.py [--clip ../shared/bench/public/hair_pan]

A 4K 16-bit alpha made of the clip's middle ground-truth alpha (fine hair) tiled 4x4, and its 8-bit trimap; each level
and filter written 5 times, median time. Prints a markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

ROOT = Path(__file__).resolve().parents[1]


# libpng's filter flags; "adaptive" leaves libpng's default (it tries every filter on every row).
FILTERS = {"adaptive": None, "none": 0x08, "sub": 0x10, "up": 0x20, "paeth": 0x80}


def write(path: str, pixels: np.ndarray, fmt, level: int, row_filter: int | None) -> None:
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 1, fmt)
    spec.attribute("png:compressionLevel", level)
    if row_filter is not None:
        spec.attribute("png:filter", row_filter)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(pixels)
    out.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "bench" / "public" / "hair_pan")
    args = parser.parse_args()
    frames = sorted((args.clip / "alpha_gt").glob("*.png"))
    gt = oiio.ImageBuf(str(frames[len(frames) // 2])).get_pixels(oiio.FLOAT)[..., 0]
    alpha = np.tile(gt, (4, 4))[:2160, :3840]
    band = (alpha > 0.002) & (alpha < 0.998)
    trimap = np.where(alpha >= 0.998, 255, 0).astype(np.uint8)
    trimap[band] = 128
    a16 = np.round(alpha * 65535).astype(np.uint16)[..., None]
    print(f"4K alpha from {args.clip.name} (tiled 4x4), band {band.mean():.1%} of the frame\n")
    print("| filter | level | alpha png16 MB | write s | trimap png MB | write s |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for (name, row_filter), level in [(f, lv) for f in FILTERS.items() for lv in (1, 3, 6)] + [
                (("adaptive", None), 9), (("none", 0x08), 9)]:
            row = [name, str(level)]
            for file, pixels, fmt in (("a.png", a16, oiio.UINT16), ("t.png", trimap[..., None], oiio.UINT8)):
                path = str(Path(tmp) / file)
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    write(path, pixels, fmt, level, row_filter)
                    times.append(time.perf_counter() - t0)
                row += [f"{Path(path).stat().st_size / 1e6:.2f}", f"{statistics.median(times):.3f}"]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
