"""A generated example shot: a soft-edged figure walking over a panning textured background.

Used by the README's first command and by the tests, so both run without downloads.
The ground-truth alpha is written too (`alpha_gt/`), so results can be scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io.colour import srgb_to_linear
from .io.images import write_image

SUPERSAMPLE = 4


def _coverage(height: int, width: int, t: float) -> np.ndarray:
    """Supersampled coverage of a head (ellipse) + torso (rounded box) + a wavy strand fringe."""
    s = SUPERSAMPLE
    ys, xs = np.mgrid[0:height * s, 0:width * s].astype(np.float32)
    ys, xs = (ys + 0.5) / s, (xs + 0.5) / s
    cx = width * (0.35 + 0.25 * t)
    cy = height * 0.42
    r = min(height, width) * 0.16
    head = ((xs - cx) / r) ** 2 + ((ys - cy) / (1.15 * r)) ** 2 <= 1.0
    torso = (np.abs(xs - cx) <= 1.7 * r) & (ys >= cy + 1.05 * r) & (ys <= height + r)
    angle = np.arctan2(ys - cy, xs - cx)
    fringe_r = r * (1.18 + 0.12 * np.sin(9 * angle + 6.0 * t)) * (np.sin(angle) < 0.2)
    dist = np.hypot(xs - cx, (ys - cy) / 1.15)
    fringe = (dist <= fringe_r) & (np.sin(40 * angle) > 0.3)
    cover = (head | torso | fringe).astype(np.float32)
    return cover.reshape(height, s, width, s).mean(axis=(1, 3))


def _background(height: int, width: int, shift: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs = xs + shift
    r = 0.20 + 0.10 * np.sin(xs / 9.0) * np.cos(ys / 13.0)
    g = 0.35 + 0.15 * np.sin((xs + ys) / 17.0)
    b = 0.55 + 0.20 * np.cos(xs / 23.0 - ys / 7.0)
    return np.clip(np.stack([r, g, b], axis=2), 0.0, 1.0)


def render_frame(height: int, width: int, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(display-referred RGB plate, alpha) for frame `index` of `count`."""
    t = index / max(count - 1, 1)
    alpha = _coverage(height, width, t)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = xs - width * (0.35 + 0.25 * t)  # texture moves with the figure
    detail = 0.08 * np.sin(u / 3.0 + ys / 5.0) + 0.06 * np.cos(u / 7.0 - ys / 4.0)
    fg = np.stack([0.85 + detail, 0.50 + detail, 0.30 + 0.5 * detail], axis=2)
    bg = _background(height, width, shift=2 * index)
    plate = alpha[:, :, None] * fg + (1.0 - alpha[:, :, None]) * bg
    return plate.astype(np.float32), alpha


def make_example(out: Path, width: int = 320, height: int = 180, frames: int = 12, first: int = 1001,
                 fmt: str = "exr") -> dict[str, str]:
    """Write plate/####.<fmt> (EXR linear half, or 8-bit sRGB PNG), alpha_gt/####.png and anchor.png."""
    out = Path(out)
    for i in range(frames):
        plate, alpha = render_frame(height, width, i, frames)
        number = first + i
        if fmt == "exr":
            write_image(out / "plate" / f"plate.{number:04d}.exr", srgb_to_linear(plate), "half", ("R", "G", "B"),
                        {"oiio:ColorSpace": "lin_rec709"})
        else:
            write_image(out / "plate" / f"plate.{number:04d}.png", plate, "uint8", ("R", "G", "B"),
                        {"oiio:ColorSpace": "sRGB"})
        write_image(out / "alpha_gt" / f"{number:04d}.png", alpha, "uint16", ("Y",))
        if i == 0:
            write_image(out / "anchor.png", (alpha >= 0.5).astype(np.float32), "uint8", ("Y",))
    return {"input": str(out / "plate" / f"plate.####.{fmt}"), "anchor": str(out / "anchor.png")}
