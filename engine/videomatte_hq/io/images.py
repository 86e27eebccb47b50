"""Image files through OpenImageIO: reads that name the file on failure, atomic writes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from ..errors import OutputError, VideomatteError
from ..fileio import atomic_write, no_space

# zlib level 3 with no row filter: 3-5x faster than libpng's default of trying every filter on every row, at the
# same size on mattes and trimaps (bench/png_level.py, docs/benchmarks.md).
PNG_LEVEL = 3
PNG_FILTER_NONE = 0x08  # libpng's PNG_FILTER_NONE
_FORMATS = {"uint8": oiio.UINT8, "uint16": oiio.UINT16, "half": oiio.HALF, "float": oiio.FLOAT}


def _open(path: Path) -> oiio.ImageInput:
    """The file open at its colour part (`_seek_colour`)."""
    config = oiio.ImageSpec()
    # PNG RGBA is unpremultiplied by OIIO unless told the alpha is straight (lossy for mattes).
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(path), config)
    if inp is None:
        reason = oiio.geterror().strip() or "unknown format"
        raise VideomatteError(f"cannot read image {path}: {reason}",
                              hint="check that the file exists and is a complete, valid image", code="unreadable")
    _seek_colour(inp)
    return inp


def _seek_colour(inp: oiio.ImageInput) -> None:
    """Move to the first subimage (a multi-part EXR's part) with R, G and B channels, if the first has none: a
    render may store its depth or other AOVs in the parts before the beauty, which Nuke reads as layers."""
    if {"R", "G", "B"} <= set(inp.spec().channelnames):
        return
    for part in range(1, inp.spec().get_int_attribute("oiio:subimages", 1)):
        if inp.seek_subimage(part, 0) and {"R", "G", "B"} <= set(inp.spec().channelnames):
            return
    inp.seek_subimage(0, 0)


def read_spec(path: Path) -> oiio.ImageSpec:
    """Header only (size, channels, format) of the colour part."""
    inp = _open(path)
    spec = inp.spec()
    inp.close()
    return spec


def frame_size(spec: oiio.ImageSpec) -> tuple[int, int]:
    """An image's (width, height) as a compositor knows it: its display window (an EXR's format). The pixels
    stored, its data window, may be smaller (a render's bounding box, per frame) or larger (overscan)."""
    return spec.full_width, spec.full_height


def has_overscan(spec: oiio.ImageSpec) -> bool:
    """Whether the data window reaches beyond the display window."""
    return (spec.x < spec.full_x or spec.y < spec.full_y or spec.x + spec.width > spec.full_x + spec.full_width
            or spec.y + spec.height > spec.full_y + spec.full_height)


def colour_channel_count(spec: oiio.ImageSpec) -> int:
    """How many leading channels hold a plate's colour: R, G, B (OpenImageIO lists them first in a layered EXR),
    else one grey channel. A render's other layers (AOVs) and its alpha are then never decoded into memory."""
    return 3 if spec.nchannels >= 3 and spec.alpha_channel not in (0, 1, 2) else 1


def is_half(spec: oiio.ImageSpec, channels: int) -> bool:
    """Whether the first `channels` channels are stored as half floats."""
    return all(spec.channelformat(c) == oiio.HALF for c in range(channels))


def read_image(path: Path, keep_half: bool = False, colour: bool = False) -> tuple[np.ndarray, oiio.ImageSpec]:
    """The display window's pixels of the colour part as float32 (H, W, C); 8/16-bit files are scaled to [0, 1].
    Outside the data window they are 0 (as a compositor reads a bounding box), overscan beyond the display window
    is left out.
    With `keep_half`, a half-float file comes back as float16 (half the memory; the colour table reads its bits).
    With `colour`, only the plate's colour channels (`colour_channel_count`)."""
    inp = _open(path)
    spec = inp.spec()
    channels = colour_channel_count(spec) if colour else spec.nchannels
    half = keep_half and is_half(spec, channels)
    pixels = inp.read_image(inp.current_subimage(), 0, 0, channels, oiio.HALF if half else oiio.FLOAT)
    error = inp.geterror()
    inp.close()
    if pixels is None or error:
        raise VideomatteError(f"cannot decode pixels of {path}: {error.strip() or 'truncated or corrupt data'}",
                              hint="re-render or re-copy this frame", code="unreadable")
    pixels = np.asarray(pixels, np.float16 if half else np.float32).reshape(spec.height, spec.width, channels)
    return _display_window(pixels, spec), spec


def _display_window(pixels: np.ndarray, spec: oiio.ImageSpec) -> np.ndarray:
    """The data window's `pixels` placed in the display window."""
    data = (spec.x, spec.y, spec.width, spec.height)
    full = (spec.full_x, spec.full_y, spec.full_width, spec.full_height)
    if data == full:
        return pixels
    frame = np.zeros((spec.full_height, spec.full_width, pixels.shape[2]), pixels.dtype)
    x0, y0 = max(spec.x, spec.full_x), max(spec.y, spec.full_y)
    x1 = min(spec.x + spec.width, spec.full_x + spec.full_width)
    y1 = min(spec.y + spec.height, spec.full_y + spec.full_height)
    if x1 > x0 and y1 > y0:
        frame[y0 - spec.full_y:y1 - spec.full_y, x0 - spec.full_x:x1 - spec.full_x] = \
            pixels[y0 - spec.y:y1 - spec.y, x0 - spec.x:x1 - spec.x]
    return frame


def read_attribute(path: Path, name: str) -> str | None:
    """A string metadata attribute of an image, or None if absent/unreadable."""
    try:
        spec = read_spec(path)
    except VideomatteError:
        return None
    value = spec.getattribute(name)
    return value if isinstance(value, str) else None


_PNG_END = b"\0\0\0\0IEND\xaeB`\x82"  # a PNG's last chunk


def _whole(path: str, suffix: str) -> bool:
    """Whether a file OpenImageIO wrote is complete. Its writers report success when their last buffered bytes
    never reach the disk (on a full disk small PNG and EXR files came out empty), so: a PNG must end with its
    IEND chunk, any other file must give back its last scanline (which needs its offset table and last
    chunk)."""
    if suffix == ".png":
        with open(path, "rb") as handle:
            if handle.seek(0, os.SEEK_END) < len(_PNG_END):
                return False
            handle.seek(-len(_PNG_END), os.SEEK_END)
            return handle.read() == _PNG_END
    inp = oiio.ImageInput.open(path)
    if inp is None:
        oiio.geterror()  # consumed: the caller reports the write
        return False
    spec = inp.spec()
    last = inp.read_scanline(spec.y + spec.height - 1, spec.z, oiio.FLOAT)
    whole = last is not None and not inp.geterror()
    inp.close()
    return whole


def write_image(path: Path, pixels: np.ndarray, fmt: str, channels: tuple[str, ...],
                attributes: dict[str, str] | None = None) -> None:
    """Write atomically (fileio.atomic_write): no reader sees a partial frame, others can read it."""
    path = Path(path)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, nch = pixels.shape
    spec = oiio.ImageSpec(width, height, nch, _FORMATS[fmt])
    spec.channelnames = channels
    if "A" in channels:
        spec.alpha_channel = channels.index("A")
    if path.suffix.lower() == ".exr":
        spec.attribute("compression", "zip")
    elif path.suffix.lower() == ".png":
        spec.attribute("png:compressionLevel", PNG_LEVEL)
        spec.attribute("png:filter", PNG_FILTER_NONE)
    # Mattes, trimaps and anchors are data: untagged, or a PNG gets sRGB/gAMA/cHRM chunks and an application
    # that honours them would linearise the matte.
    spec.attribute("oiio:ColorSpace", "data")
    for key, value in (attributes or {}).items():
        spec.attribute(key, value)

    def write(tmp: str) -> None:
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec) or not out.write_image(np.ascontiguousarray(pixels)) \
                or not out.close() or out.has_error or not _whole(tmp, path.suffix.lower()):
            reason = (out.geterror() if out is not None else oiio.geterror()).strip() or "the file was cut short"
            if no_space(path):  # OpenImageIO reports no errno
                raise OSError(errno.ENOSPC, reason)
            raise OutputError(f"cannot write {path}: {reason}", hint="check free disk space and permissions; "
                              "frames already written are kept: rerun with --resume", code="write")

    atomic_write(path, write)
