"""The output layout (the hosts' contract) and per-frame resume records.

    <output_dir>/alpha/<frame:06d>.png|.exr   alpha (png16 default; EXR has one channel `A`)
    <output_dir>/qc/trimap.<frame:06d>.png    trimap, uint8 0 / 128 / 255
    <output_dir>/config_used.json             the fully resolved config
    <output_dir>/run_summary.json             what ran, with what, how long
        (farm steps: config_used.segment.json / run_summary.segment.json, ...refine.<first>-<last>.json)
    <output_dir>/anchor_mask.auto.png         when auto-anchor made the anchor

Each frame file carries the hash of the settings that produced it in its metadata,
so `--resume` keeps exactly the frames a matching run wrote.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .io.images import read_attribute, read_image, write_image
from .trimap import UNKNOWN

HASH_ATTR = "videomatte_hq:config_hash"
UNKNOWN_ATTR = "videomatte_hq:unknown_pixels"

ALPHA_FORMATS = {  # name -> (extension, pixel format)
    "png16": (".png", "uint16"),
    "png8": (".png", "uint8"),
    "exr16": (".exr", "half"),
    "exr32": (".exr", "float"),
}


def quantize(alpha: np.ndarray, alpha_format: str) -> np.ndarray:
    """The values a file of this format will hold (what reuse and resume must see)."""
    if alpha_format == "png16":
        return np.round(alpha * 65535.0).astype(np.float32) / 65535.0
    if alpha_format == "png8":
        return np.round(alpha * 255.0).astype(np.float32) / 255.0
    if alpha_format == "exr16":
        return alpha.astype(np.float16).astype(np.float32)
    return alpha.astype(np.float32)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")
    os.replace(tmp, path)


class OutputLayout:
    def __init__(self, root: Path, alpha_format: str) -> None:
        self.root = root
        self.alpha_format = alpha_format
        self.alpha_ext, self.alpha_pixel = ALPHA_FORMATS[alpha_format]
        self.alpha_dir = root / "alpha"
        self.qc_dir = root / "qc"
        self.anchor_auto = root / "anchor_mask.auto.png"

    def reports(self, stage: str, first: int, last: int) -> tuple[Path, Path]:
        """(config_used, run_summary) of a run: one pair per farm step, so parallel chunks never share a file."""
        tag = {"all": "", "segment": ".segment"}.get(stage, f".{stage}.{first}-{last}")
        return self.root / f"config_used{tag}.json", self.root / f"run_summary{tag}.json"

    def write_auto_anchor(self, mask: np.ndarray) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_image(self.anchor_auto, (mask >= 0.5).astype(np.uint8) * 255, "uint8", ("Y",))

    def alpha_path(self, frame: int) -> Path:
        return self.alpha_dir / f"{frame:06d}{self.alpha_ext}"

    def trimap_path(self, frame: int) -> Path:
        return self.qc_dir / f"trimap.{frame:06d}.png"

    @property
    def alpha_pattern(self) -> str:
        return str(self.alpha_dir / f"######{self.alpha_ext}")

    @property
    def trimap_pattern(self) -> str:
        return str(self.qc_dir / "trimap.######.png")

    def existing(self, paths: list[Path]) -> list[Path]:
        return [p for p in paths if p.exists()]

    @staticmethod
    def matches(path: Path, config_hash: str) -> bool:
        return path.is_file() and read_attribute(path, HASH_ATTR) == config_hash

    def write_alpha(self, frame: int, alpha: np.ndarray, config_hash: str) -> None:
        write_image(self.alpha_path(frame), alpha, self.alpha_pixel, ("A",), {HASH_ATTR: config_hash})

    def read_alpha(self, frame: int) -> np.ndarray:
        return read_image(self.alpha_path(frame))[0][:, :, 0]

    def write_trimap(self, frame: int, trimap: np.ndarray, config_hash: str) -> None:
        unknown = int(np.count_nonzero(trimap == UNKNOWN))
        write_image(self.trimap_path(frame), trimap, "uint8", ("Y",),
                    {HASH_ATTR: config_hash, UNKNOWN_ATTR: str(unknown)})

    def read_trimap(self, frame: int) -> np.ndarray:
        return np.round(read_image(self.trimap_path(frame))[0][:, :, 0] * 255.0).astype(np.uint8)

    def trimap_unknown(self, frame: int) -> int:
        return int(read_attribute(self.trimap_path(frame), UNKNOWN_ATTR) or 0)
