"""The engine's documented output layout (README "Output layout")."""

from __future__ import annotations

import os

ALPHA_EXT = {"png16": ".png", "png8": ".png", "exr16": ".exr", "exr32": ".exr"}


def alpha_path(output_dir: str, alpha_format: str = "png16") -> str:
    """Pattern of the alpha sequence: `<out>/alpha/######.png` (frame numbers = source frames, 6 digits)."""
    return os.path.join(output_dir, "alpha", "######" + ALPHA_EXT[alpha_format])


def trimap_path(output_dir: str) -> str:
    """Pattern of the trimap sequence: `<out>/qc/trimap.######.png` (0 bg, 128 unknown, 255 fg)."""
    return os.path.join(output_dir, "qc", "trimap.######.png")
