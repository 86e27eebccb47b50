"""Image files through OpenImageIO: reads that name the file on failure, atomic writes."""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from ..errors import OutputError, VideomatteError
from ..fileio import atomic_write, no_space

# zlib level 3 with no row filter: 3-5x faster than libpng's default of trying every filter on every row, at the
# same size on mattes and trimaps (bench/png_level.py, docs/benchmarks.md).
PNG_LEVEL = 3
PNG_FILTER_NONE = 0x08  # libpng's PNG_FILTER_NONE
BAND_ROWS = 256  # a multiple of every EXR compression's chunk (1 to 256 rows): no chunk is decoded twice
_FORMATS = {"uint8": oiio.UINT8, "uint16": oiio.UINT16, "half": oiio.HALF, "float": oiio.FLOAT}
BEAUTY_LAYERS = ("rgba", "beauty", "combined")  # a layer's last name that marks the plate among several
CHANNELS = {"r": "R", "red": "R", "g": "G", "green": "G", "b": "B", "blue": "B", "a": "A", "alpha": "A", "y": "Y"}


@functools.cache
def _image_extensions() -> frozenset[str]:
    """The file extensions OpenImageIO's image readers take (its `extension_list`: "openexr:exr,sxr;tiff:tif,...")."""
    readers = oiio.get_string_attribute("extension_list").split(";")
    return frozenset(ext for reader in readers for ext in reader.partition(":")[2].split(","))


def image_suffix(path: Path) -> bool:
    """Whether an image reader of OpenImageIO takes files named so."""
    return path.suffix.lower().lstrip(".") in _image_extensions()


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
    """Move to the subimage (a multi-part EXR's part) that holds the colour: the first with R, G and B channels,
    else the first with a colour layer, else the first. A render may store its depth or other AOVs in the parts
    before the beauty, which Nuke reads as layers."""
    layered = None  # the first part with a colour layer
    for part in range(inp.spec().get_int_attribute("oiio:subimages", 1)):
        if part and not inp.seek_subimage(part, 0):
            break
        found = rgb_layers(inp.spec().channelnames)
        if "" in found:
            return
        if found and layered is None:
            layered = part
    inp.seek_subimage(layered or 0, 0)


def channel_names(names) -> list[str]:
    """Channel names as R, G, B, A, Y where a writer spelled them otherwise (`r`, `red`, `alpha`, `diffuse.red`):
    OpenImageIO keeps the file's spelling, and a plate read as one grey channel is a silent failure."""
    canonical = []
    for name in names:
        layer, dot, base = name.rpartition(".")
        canonical.append(f"{layer}{dot}{CHANNELS.get(base.lower(), base)}")
    return canonical


def rgb_layers(names) -> dict[str, int]:
    """Each layer with R, G and B channels in a row -> the index of its R ('': the plain R, G, B)."""
    found: dict[str, int] = {}
    names = channel_names(names)
    for index in range(len(names) - 2):
        red, green, blue = names[index:index + 3]
        layer = red[:-1]
        if red.endswith("R") and (layer == "" or layer.endswith(".")) and (green, blue) == (layer + "G", layer + "B"):
            found.setdefault(layer.rstrip("."), index)
    return found


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


def colour_channels(spec: oiio.ImageSpec, path: Path) -> tuple[int, int, str]:
    """The channels [begin, end) that hold a plate's colour, and what they are where that is not R, G, B or Y
    (for a warning; '' otherwise): R, G, B; else the R, G, B of its one colour layer, or of the one named rgba,
    beauty or combined (Blender's multilayer EXR: ViewLayer.Combined); else one grey channel (Y, else the first).
    A render's other layers (AOVs) and its alpha are never decoded into memory."""
    layers = rgb_layers(spec.channelnames)
    if "" in layers:
        return layers[""], layers[""] + 3, ""
    if layers:
        chosen = [k for k in layers if k.rsplit(".", 1)[-1].lower() in BEAUTY_LAYERS] or list(layers)
        if len(chosen) > 1:
            raise VideomatteError(f"{path} has no R, G, B channels but several colour layers ({', '.join(layers)}): "
                                  "which one is the plate?", code="input",
                                  hint="write the plate's layer as R, G, B (Nuke: a Shuffle before the Write)")
        return layers[chosen[0]], layers[chosen[0]] + 3, f"{chosen[0]} layer"
    names = channel_names(spec.channelnames)
    if "Y" in names or len(names) == 1:
        grey = names.index("Y") if "Y" in names else 0
        return grey, grey + 1, ""
    return 0, 1, f"first channel, {spec.channelnames[0]}, as grey (of {', '.join(spec.channelnames[:6])})"


def is_floating(spec: oiio.ImageSpec, channels: tuple[int, int]) -> bool:
    """Whether the channels [begin, end) hold floating-point values (half, float): scene-linear by convention."""
    return all(spec.channelformat(c).basetype in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE) for c in range(*channels))


def is_half(spec: oiio.ImageSpec, channels: tuple[int, int]) -> bool:
    """Whether the channels [begin, end) are stored as half floats."""
    return all(spec.channelformat(c) == oiio.HALF for c in range(*channels))


def read_image(path: Path, keep_half: bool = False, colour: bool = False) -> tuple[np.ndarray, oiio.ImageSpec]:
    """The display window's pixels of the colour part as float32 (H, W, C); 8/16-bit files are scaled to [0, 1].
    Outside the data window they are 0 (as a compositor reads a bounding box), overscan beyond the display window
    is left out.
    With `keep_half`, a half-float file comes back as float16 (half the memory; the colour table reads its bits).
    With `colour`, only the plate's colour channels (`colour_channels`)."""
    bands: list[np.ndarray] = []
    spec = read_bands(path, lambda pixels, rows: bands.append(pixels), keep_half, colour)
    return bands[0] if len(bands) == 1 else np.concatenate(bands), spec


def read_bands(path: Path, into: Callable[[np.ndarray, slice], None], keep_half: bool = False,
               colour: bool = False) -> oiio.ImageSpec:
    """read_image a band of rows at a time, top to bottom: `into(pixels, rows)` gets each band of the display
    window (zeros outside the data window) and the rows it is. A consumer that converts each band as it comes
    holds no decoded frame beside the converted one (as fast as a whole read, within noise: bench/decode.py)."""
    inp = _open(path)
    try:
        spec = inp.spec()
        begin, end = colour_channels(spec, path)[:2] if colour else (0, spec.nchannels)
        half = keep_half and is_half(spec, (begin, end))
        dtype, width, channels = np.float16 if half else np.float32, spec.full_width, end - begin
        left, right = max(spec.x, spec.full_x), min(spec.x + spec.width, spec.full_x + spec.full_width)
        framed = (spec.x, spec.width) == (spec.full_x, width)
        done = 0  # display rows handed over

        def blank(upto: int) -> None:  # rows outside the data window
            for top in range(done, upto, BAND_ROWS):
                bottom = min(top + BAND_ROWS, upto)
                into(np.zeros((bottom - top, width, channels), dtype), slice(top, bottom))

        for y, band in _bands(inp, path, begin, end, oiio.HALF if half else oiio.FLOAT):
            y -= spec.full_y  # from here on, rows of the display window
            if y >= spec.full_height:  # overscan below the display window
                break
            top, bottom = max(y, 0), min(y + len(band), spec.full_height)
            if top >= bottom:  # overscan above it
                continue
            blank(top)
            rows = band[top - y:bottom - y]
            if not framed:  # the data window is not the display window's width: place it
                placed = np.zeros((bottom - top, width, channels), dtype)
                if left < right:
                    placed[:, left - spec.full_x:right - spec.full_x] = rows[:, left - spec.x:right - spec.x]
                rows = placed
            into(np.asarray(rows, dtype), slice(top, bottom))
            done = bottom
        blank(spec.full_height)
    finally:
        inp.close()
    return spec


def check_image(path: Path) -> oiio.ImageSpec:
    """Decode every pixel of the colour part's colour channels, keeping none: the full check of a frame at a band's
    memory (8 preflight workers held 1.8 GB of 8K frames, 0.4 GB so; and a third less CPU). Raises as read_image
    does; returns the header."""
    inp = _open(path)
    try:
        spec = inp.spec()
        for _ in _bands(inp, path, *colour_channels(spec, path)[:2], oiio.UNKNOWN):
            pass
    finally:
        inp.close()
    return spec


def _bands(inp: oiio.ImageInput, path: Path, begin: int, end: int, fmt) -> Iterator[tuple[int, np.ndarray]]:
    """The current part's channels [begin, end) in bands of BAND_ROWS rows (whole rows of tiles for a tiled file:
    tiles start at the data window's corner): (first row, pixels (rows, data window width, channels))."""
    spec = inp.spec()
    part, bottom = inp.current_subimage(), spec.y + spec.height
    rows = -(-BAND_ROWS // spec.tile_height) * spec.tile_height if spec.tile_width else BAND_ROWS
    for y in range(spec.y, bottom, rows):
        y1 = min(y + rows, bottom)
        band = (inp.read_tiles(part, 0, spec.x, spec.x + spec.width, y, y1, spec.z, spec.z + max(spec.depth, 1),
                               begin, end, fmt) if spec.tile_width
                else inp.read_scanlines(part, 0, y, y1, spec.z, begin, end, fmt))
        error = inp.geterror()
        if band is None or error:
            raise _undecodable(path, error)
        yield y, band.reshape(y1 - y, spec.width, end - begin)


def _undecodable(path: Path, error: str) -> VideomatteError:
    return VideomatteError(f"cannot decode pixels of {path}: {error.strip() or 'truncated or corrupt data'}",
                           hint="re-render or re-copy this frame", code="unreadable")


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
                attributes: dict[str, str] | None = None, origin: tuple[int, int] = (0, 0)) -> None:
    """Write atomically (fileio.atomic_write): no reader sees a partial frame, others can read it. An EXR's
    display and data windows start at `origin` (the plate's display window's: a reader places both alike)."""
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
        spec.x, spec.y = spec.full_x, spec.full_y = origin
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
