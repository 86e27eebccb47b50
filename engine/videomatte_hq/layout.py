"""The output layout (the hosts' contract) and per-frame resume records.

    <output_dir>/alpha/<frame:06d>.png|.exr   alpha (png16 default; EXR has one channel `A`); `alpha_pattern`
                                              names it otherwise (e.g. shotA_matte.####.exr)
    <output_dir>/qc/trimap.<frame:06d>.png    trimap, uint8 0 / 128 / 255
    <output_dir>/foreground/<frame:06d>.exr   with --foreground: straight foreground, half RGB, scene-linear
    <output_dir>/matte/<frame:06d>.exr        with --matte-exr: half R,G,B,A = premultiplied foreground + alpha,
                                              trimap.Y (0 / 0.5 / 1) and, with --foreground, foreground.R,G,B
    <output_dir>/config_used.json             the fully resolved config
    <output_dir>/run_summary.json             the run report: live while the run goes, final when it ends
        (farm steps: config_used.segment.json / run_summary.segment.json, ...refine.<first>-<last>.json)
    <output_dir>/anchor_mask.auto.png         when auto-anchor made the anchor

The engine is the only place that spells these names: hosts get them from `describe()` (the `layout` command,
the `run_start` event and the report). Each frame file carries the hash of the settings that produced it in its
metadata, so `--resume` keeps exactly the frames a matching run wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .errors import VideomatteError
from .io.images import read_attribute, read_image, write_image
from .io.sequence import ImageSequence, parse_pattern
from .trimap import UNKNOWN, trimap_to_unit

HASH_ATTR = "videomatte_hq:config_hash"
COLOUR_ATTR = "oiio:ColorSpace"
# Layer names as Nuke (ExrChannelNameToNuke: trimap.Y, foreground.red ...) and Blender (passes "trimap",
# "foreground" beside the Combined RGBA) both read them.
TRIMAP_CHANNEL, FOREGROUND_CHANNELS = "trimap.Y", ("foreground.R", "foreground.G", "foreground.B")
UNKNOWN_ATTR = "videomatte_hq:unknown_pixels"
FRAME_DIGITS = 6

ALPHA_FORMATS = {  # name -> (extension, pixel format)
    "png16": (".png", "uint16"),
    "png8": (".png", "uint8"),
    "exr16": (".exr", "half"),
    "exr32": (".exr", "float"),
}


class Quantized(NamedTuple):
    values: np.ndarray  # float32: what reuse and resume must see (the file's values read back)
    stored: np.ndarray  # the same in the file's pixel type (OpenImageIO's own conversion was the slow part)


def quantize(alpha: np.ndarray, alpha_format: str) -> Quantized:
    """The values a file of this format will hold."""
    if alpha_format in ("png16", "png8"):
        top = 65535.0 if alpha_format == "png16" else 255.0
        codes = alpha * top
        np.round(codes, out=codes)  # in place: a 4K frame's temporaries cost as much as the arithmetic
        np.clip(codes, 0.0, top, out=codes)  # a backend's value outside [0, 1] is stored as the file clamps it
        stored = codes.astype(np.uint16 if alpha_format == "png16" else np.uint8)
        codes = codes.astype(np.float32, copy=False)
        codes /= np.float32(top)
        return Quantized(codes, stored)
    if alpha_format == "exr16":
        half = alpha.astype(np.float16)
        return Quantized(half.astype(np.float32), half)
    values = alpha.astype(np.float32)
    return Quantized(values, values)


def report_tag(stage: str, first: int, last: int) -> str:
    """'' for a whole run, '.segment', '.refine.<first>-<last>': one report per farm step, so parallel chunks
    never share a file."""
    return {"all": "", "segment": ".segment"}.get(stage, f".{stage}.{first}-{last}")


def alpha_sequence(root: Path, alpha_format: str, pattern: str | None) -> ImageSequence:
    """Where the alpha frames go: `pattern` (relative to the output folder, one frame field: ####, %04d, @),
    or the reference's `alpha/<frame:06d>.<ext>`."""
    ext = ALPHA_FORMATS[alpha_format][0]
    if not pattern:
        return ImageSequence(root / "alpha", "", ext, FRAME_DIGITS)
    sequence = parse_pattern(str(root / pattern))
    if sequence is None:
        raise VideomatteError(f"alpha_pattern {pattern!r} has no frame-number field", code="config",
                              hint="write the frame number as ####, %04d or @, e.g. shotA_matte.####.exr")
    if sequence.suffix.lower() != ext:
        raise VideomatteError(f"alpha_pattern {pattern!r} does not end in {ext}, the extension of alpha_format "
                              f"{alpha_format}", code="config",
                              hint=f"end the pattern in {ext} or choose another --alpha-format")
    if not Path(sequence.directory).resolve().is_relative_to(Path(root).resolve()):
        raise VideomatteError(f"alpha_pattern {pattern!r} leaves the output folder", code="config",
                              hint="give a name inside --output-dir, e.g. matte/shotA_matte.####.exr")
    return sequence


class OutputLayout:
    def __init__(self, root: Path, alpha_format: str, alpha_pattern: str | None = None, foreground: bool = False,
                 matte_exr: bool = False, pixel_aspect: float = 1.0, origin: tuple[int, int] = (0, 0)) -> None:
        self.root = Path(root)
        # The plate's pixel aspect ratio (2 for a 2x anamorphic plate) and display window's origin, carried into
        # the frame files so that a compositor reads them in the plate's format.
        self.attributes = {} if pixel_aspect == 1.0 else {"PixelAspectRatio": pixel_aspect}
        self.origin = origin
        self.alpha_format = alpha_format
        self.foreground, self.matte_exr = foreground, matte_exr
        self.alpha_ext, self.alpha_pixel = ALPHA_FORMATS[alpha_format]
        self.alpha_files = alpha_sequence(self.root, alpha_format, alpha_pattern)
        self.alpha_dir = self.alpha_files.directory
        self.qc_dir = self.root / "qc"
        self.anchor_auto = self.root / "anchor_mask.auto.png"

    @classmethod
    def of(cls, io, pixel_aspect: float = 1.0, origin: tuple[int, int] = (0, 0)) -> OutputLayout:
        """The layout of a run's io settings (config.IOConfig), its frame files in the plate's format."""
        return cls(Path(io.output_dir), io.alpha_format, io.alpha_pattern, io.foreground, io.matte_exr, pixel_aspect,
                   origin)

    def reports(self, stage: str, first: int, last: int) -> tuple[Path, Path]:
        """(config_used, run_summary) of a run or farm step."""
        tag = report_tag(stage, first, last)
        return self.root / f"config_used{tag}.json", self.root / f"run_summary{tag}.json"

    def report_files(self) -> list[Path]:
        """Every run/step report in the folder: the whole run's first, then the farm steps'."""
        main = self.root / "run_summary.json"
        steps = sorted(p for p in self.root.glob("run_summary.*.json"))
        return ([main] if main.is_file() else []) + steps

    def describe(self) -> dict[str, Any]:
        """The layout as hosts read it (`videomatte-hq layout --json`, the run_start event, the report)."""
        config_used, summary = self.reports("all", 0, 0)
        return {"output_dir": str(self.root), "alpha_format": self.alpha_format,
                "alpha_pattern": self.alpha_pattern, "trimap_pattern": self.trimap_pattern,
                "alpha_frame_digits": max(self.alpha_files.padding, 1), "trimap_frame_digits": FRAME_DIGITS,
                "foreground_pattern": self._pattern("foreground") if self.foreground else None,
                "matte_pattern": self._pattern("matte") if self.matte_exr else None,
                "run_summary": str(summary), "config_used": str(config_used),
                "anchor_auto": str(self.anchor_auto)}

    def write_auto_anchor(self, mask: np.ndarray) -> None:
        write_image(self.anchor_auto, (mask >= 0.5).astype(np.uint8) * 255, "uint8", ("Y",))

    def alpha_path(self, frame: int) -> Path:
        return self.alpha_files.path(frame)

    def trimap_path(self, frame: int) -> Path:
        return self.qc_dir / f"trimap.{frame:0{FRAME_DIGITS}d}.png"

    def foreground_path(self, frame: int) -> Path:
        return self.root / "foreground" / f"{frame:0{FRAME_DIGITS}d}.exr"

    def matte_path(self, frame: int) -> Path:
        return self.root / "matte" / f"{frame:0{FRAME_DIGITS}d}.exr"

    def _pattern(self, folder: str) -> str:
        return str(self.root / folder / f"{'#' * FRAME_DIGITS}.exr")

    @property
    def wants_foreground(self) -> bool:
        """Stage 2 estimates the foreground colour (for foreground/ or the matte EXR's RGB)."""
        return self.foreground or self.matte_exr

    def refine_paths(self, frame: int) -> list[Path]:
        """What stage 2 writes for a frame, the alpha last (write_refined's order)."""
        return ([self.foreground_path(frame)] if self.foreground else []) + (
            [self.matte_path(frame)] if self.matte_exr else []) + [self.alpha_path(frame)]

    @property
    def alpha_pattern(self) -> str:
        return self.alpha_files.pattern

    @property
    def trimap_pattern(self) -> str:
        return str(self.qc_dir / f"trimap.{'#' * FRAME_DIGITS}.png")

    def write_refined(self, frame: int, quantized: Quantized, trimap: np.ndarray, foreground: np.ndarray | None,
                      colour_space: str, config_hash: str) -> None:
        """Stage 2's files of a frame; the alpha last, so a frame whose alpha carries this run's hash has all
        of them (resume and farm finalize check the alpha)."""
        attributes = {**self.attributes, HASH_ATTR: config_hash, COLOUR_ATTR: colour_space}
        alpha = quantized.values
        if self.foreground:
            write_image(self.foreground_path(frame), foreground, "half", ("R", "G", "B"), attributes, self.origin)
        if self.matte_exr:
            layers = [foreground * alpha[..., None], alpha[..., None], trimap_to_unit(trimap)[..., None]]
            names = ("R", "G", "B", "A", TRIMAP_CHANNEL)
            if self.foreground:
                layers.append(foreground)
                names += FOREGROUND_CHANNELS
            write_image(self.matte_path(frame), np.concatenate(layers, axis=2), "half", names, attributes,
                        self.origin)
        write_image(self.alpha_path(frame), quantized.stored, self.alpha_pixel, ("A",),
                    {**self.attributes, HASH_ATTR: config_hash}, self.origin)

    def read_alpha(self, frame: int) -> np.ndarray:
        return read_image(self.alpha_path(frame))[0][:, :, 0]

    def write_trimap(self, frame: int, trimap: np.ndarray, config_hash: str) -> None:
        unknown = int(np.count_nonzero(trimap == UNKNOWN))
        write_image(self.trimap_path(frame), trimap, "uint8", ("Y",),
                    {**self.attributes, HASH_ATTR: config_hash, UNKNOWN_ATTR: str(unknown)})

    def read_trimap(self, frame: int) -> np.ndarray:
        return np.round(read_image(self.trimap_path(frame))[0][:, :, 0] * 255.0).astype(np.uint8)

    def trimap_unknown(self, frame: int) -> int:
        return int(read_attribute(self.trimap_path(frame), UNKNOWN_ATTR) or 0)
