"""Image files through OpenImageIO: reads that name the file on failure, atomic writes."""

from __future__ import annotations

import errno
import functools
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
    inp = _open(path)
    try:
        spec = inp.spec()
        begin, end = colour_channels(spec, path)[:2] if colour else (0, spec.nchannels)
        half = keep_half and is_half(spec, (begin, end))
        pixels = inp.read_image(inp.current_subimage(), 0, begin, end, oiio.HALF if half else oiio.FLOAT)
        error = inp.geterror()
    finally:
        inp.close()
    if pixels is None or error:
        raise VideomatteError(f"cannot decode pixels of {path}: {error.strip() or 'truncated or corrupt data'}",
                              hint="re-render or re-copy this frame", code="unreadable")
    pixels = np.asarray(pixels, np.float16 if half else np.float32).reshape(spec.height, spec.width, end - begin)
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
