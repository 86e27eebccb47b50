"""One plate source interface over image sequences and video files."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from difflib import SequenceMatcher
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import VideomatteError, format_frames
from .ocio import PlateColour, plate_colour, space_of_primaries
from .images import (check_image, colour_channels, frame_size, has_overscan, image_suffix, is_floating, is_half,
                     read_bands, read_spec)
from .readahead import background, ordered_map
from .sequence import ImageSequence, parse_pattern, sequences_in
from .video import VIDEO_EXTENSIONS, VideoFile

Warn = Callable[[str], None]
Progress = Callable[[int], None]
# (file suffix, the file's colour-space tag, its chromaticities, whether its pixels are floating-point) -> its colour
Colour = Callable[..., PlateColour]


# Frames decoded ahead of the one being processed: enough to hide a 4K EXR decode behind the models.
READ_AHEAD = 4
PREFLIGHT_WORKERS = 8
# A sequence's trailing frame range as Nuke writes it: "plate.####.exr 1001-1012" (negative ends: "-5--1").
FRAME_RANGE = r"(-?\d+)-(-?\d+)"
_RANGE = re.compile(rf"^(.*\S)\s+{FRAME_RANGE}$")


def _quiet(checked: int) -> None:
    """No one follows the check."""


class Decoded(NamedTuple):
    """One plate frame, decoded once, in the forms the stages take."""

    frame: int
    rgb: np.ndarray  # display-referred float32 RGB in [0, 1] (the models' input)
    rgb_u8: np.ndarray  # its 8-bit copy (image_to_u8): trackers' and temporal reuse's
    linear: np.ndarray | None  # scene-linear RGB in `colour.linear_space`, when asked for


class FrameSource:
    """Plate frames as display-referred float32 RGB in [0, 1], addressed by source frame number; decoded and
    converted ahead of the consumer on `threads` threads."""

    kind = "sequence"

    def __init__(self, description: str, frames: list[int], width: int, height: int, colour: PlateColour,
                 warn: Warn, threads: int, pixel_aspect: float = 1.0, origin: tuple[int, int] = (0, 0)) -> None:
        self.description = description
        self.pixel_aspect = pixel_aspect  # a pixel's width over its height (2 for a 2x anamorphic plate)
        self.origin = origin  # the display window's top-left corner (an EXR's may be off (0, 0))
        self.frames = frames
        self.width = width
        self.height = height
        self.colour = colour
        self.linear = colour.linear
        self.warn = warn
        self.threads = max(1, threads)
        self.nonfinite: dict[int, int] = {}  # frame -> the NaN/inf values clamped in it

    def _converted(self, frames: list[int], linear: bool) -> Iterator[tuple[Decoded, int]]:
        """Each frame decoded and converted (its NaN/inf count beside it), in order, ahead of the consumer."""
        raise NotImplementedError

    def _convert(self, frame: int, raw: np.ndarray, linear: bool) -> tuple[Decoded, int]:
        """One decode, every conversion (on the read-ahead threads)."""
        rgb, rgb_u8, bad = self.colour.to_model(raw)
        return Decoded(frame, rgb, rgb_u8, self.colour.to_linear(raw) if linear else None), bad

    def iter_decoded(self, frames: list[int], linear: bool = False) -> Iterator[Decoded]:
        """The frames as the stages take them; with `linear`, also in scene-linear light (the foreground)."""
        for decoded, bad in self._converted(frames, linear):
            if bad:
                if not self.nonfinite:  # warned here, on the consumer's thread, not on the read-ahead workers
                    self.warn(f"frame {decoded.frame}: {bad} NaN/inf values in the plate were clamped (any other "
                              "frames with some are listed at the end of the run)")
                self.nonfinite[decoded.frame] = bad
            yield decoded

    @property
    def nonfinite_values(self) -> int:
        return sum(self.nonfinite.values())

    def nonfinite_summary(self) -> str | None:
        """One line for every frame with NaN/inf values after the first (a CG render may have some on each of
        thousands of frames: a warning apiece drowned the others)."""
        if len(self.nonfinite) < 2:
            return None
        return (f"NaN/inf values in the plate were clamped on frames {format_frames(sorted(self.nonfinite))} "
                f"({self.nonfinite_values} values in all)")

    def iter_frames(self, frames: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        return ((d.frame, d.rgb) for d in self.iter_decoded(frames))

    def read(self, frame: int) -> np.ndarray:
        return next(self.iter_frames([frame]))[1]

    def span(self, start: int | None, end: int | None) -> tuple[int, int]:
        """The requested frame range, each end defaulting to the source's own."""
        return (start if start is not None else self.frames[0], end if end is not None else self.frames[-1])

    def check(self, frames: list[int], full: bool, progress: Progress = _quiet) -> None:
        """Fail before processing if frames are missing, unreadable or of another size; `progress` gets the
        count of frames checked so far, in order."""

    def warm_up(self) -> None:
        """Load what the first decoded frame needs, ahead of it (any thread)."""

    def files(self, frames: list[int]) -> list[Path]:
        """The files that hold `frames`."""
        raise NotImplementedError

    def fingerprint(self, frames: list[int]) -> str:
        """The files of `frames` as they are now (name, size, modification time): part of the resume hash, so a
        plate re-rendered under the same names is matted again instead of its old mattes being kept."""
        digest = hashlib.sha256()
        for path in self.files(frames):
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def _unused_colour_metadata(colour: PlateColour, tag: str, primaries, transfer: str) -> str | None:
    """What a plate's file says of its colour that the default it was read with ignores (a log DPX is tagged
    KodakLog, which the built-in config lacks; a film scan's DPX says printing density), or None."""
    if colour.chosen_by != "default":
        return None
    if tag and tag.lower() != "data":  # 'data' marks a file as not colour (as this tool tags its mattes)
        return f"is tagged {tag!r} (oiio:ColorSpace), a colour space the OCIO config does not know"
    if transfer == "Printing density":
        return "is log-encoded (dpx:Transfer 'Printing density': a film scan)"
    declared = space_of_primaries(primaries)
    if primaries is None or not colour.linear or declared == "lin_rec709_scene":  # the default's own primaries
        return None
    which = f"of {declared}, which the OCIO config lacks" if declared else "this tool does not know"
    return f"declares primaries {which} (chromaticities {', '.join(f'{v:.4g}' for v in primaries)})"


def _no_frames(sequence: ImageSequence) -> VideomatteError:
    """The error for a pattern that matches no file, with what its folder does hold: the sequences named most like
    it (another padding, `.EXR` for `.exr`, another version) first."""
    folder = sequence.directory
    if not folder.is_dir():
        parent = next((p for p in folder.parents if p.is_dir()), None)
        return VideomatteError(f"no frames found for input {sequence.pattern}: the folder {folder} does not exist",
                               hint=f"check the path (the nearest existing folder is {parent})", code="input")
    wanted = Path(sequence.pattern).name.lower()
    found = sorted(sequences_in(folder), key=lambda seq: -SequenceMatcher(None, wanted, Path(seq.pattern).name.lower())
                   .ratio())
    hint = "its folder holds " + " or ".join(f"{seq.pattern} ({format_frames(seq.frames)})" for seq in found[:3]) \
        if found else f"its folder {folder} holds no numbered image files"
    return VideomatteError(f"no frames found for input {sequence.pattern}", hint=hint, code="input")


class SequenceSource(FrameSource):
    def __init__(self, sequence: ImageSequence, colour: Colour, warn: Warn, threads: int) -> None:
        if not sequence.frames:
            raise _no_frames(sequence)
        self.sequence = sequence
        first = sequence.path(sequence.frames[0])
        spec = read_spec(first)
        tag, primaries = spec.get_string_attribute("oiio:ColorSpace"), spec.getattribute("chromaticities")
        begin, end, which = colour_channels(spec, first)
        floating = is_floating(spec, (begin, end))
        super().__init__(sequence.pattern, sequence.frames, *frame_size(spec),
                         colour(sequence.suffix, tag, primaries, floating), warn, threads,
                         spec.get_float_attribute("PixelAspectRatio", 1.0), (spec.full_x, spec.full_y))
        unused = _unused_colour_metadata(self.colour, tag, primaries, spec.get_string_attribute("dpx:Transfer"))
        if unused:
            kind = f"{'floating-point ' if floating else ''}{sequence.suffix}"
            warn(f"{first.name} {unused}; read as {self.colour.space} (the default for {kind}): pass "
                 "--input-colorspace (or an --ocio-config that has its space) if that is wrong")
        if which:
            warn(f"{first.name} has no R, G, B channels: the plate is its {which}")
        self.half = is_half(spec, (begin, end))  # the half-float conversion's plates
        if has_overscan(spec):
            warn(f"{first.name} has overscan (data window {spec.x},{spec.y} {spec.width}x{spec.height} beyond its "
                 f"{self.width}x{self.height} display window): only the display window is matted")

    def warm_up(self) -> None:
        if self.half:
            self.colour.warm_up()

    def files(self, frames: list[int]) -> list[Path]:
        return [self.sequence.path(frame) for frame in frames]

    def _converted(self, frames: list[int], linear: bool) -> Iterator[tuple[Decoded, int]]:
        def load(frame: int) -> tuple[Decoded, int]:
            """Each band converted as it is decoded (`_convert`), into the frame's arrays: the same values as
            converting the frame whole (every conversion is per pixel), without a decoded frame's memory."""
            shape = (self.height, self.width, 3)
            rgb, rgb_u8 = np.empty(shape, np.float32), np.empty(shape, np.uint8)
            scene = np.empty(shape, np.float32) if linear else None
            bad = 0

            def into(pixels: np.ndarray, rows: slice) -> None:
                nonlocal bad
                band, count = self._convert(frame, pixels, linear)
                rgb[rows], rgb_u8[rows], bad = band.rgb, band.rgb_u8, bad + count
                if scene is not None:
                    scene[rows] = band.linear

            read_bands(self.sequence.path(frame), into, keep_half=True, colour=True)
            return Decoded(frame, rgb, rgb_u8, scene), bad

        workers = min(READ_AHEAD, self.threads)
        return ordered_map(load, frames, workers, READ_AHEAD if workers > 1 else 1)

    def check(self, frames: list[int], full: bool, progress: Progress = _quiet) -> None:
        present = set(self.frames)
        missing = [f for f in frames if f not in present]
        if missing:
            raise VideomatteError(f"missing frames {format_frames(missing)} in {self.sequence.pattern}",
                                  hint="render/copy the missing frames or narrow --frame-start/--frame-end",
                                  code="missing_frames")

        def probe(frame: int) -> tuple[int, str | None]:
            path = self.sequence.path(frame)
            try:
                if full:
                    spec = check_image(path)
                else:
                    spec = read_spec(path)
            except VideomatteError:
                return frame, "unreadable"
            size = frame_size(spec)
            return frame, None if size == (self.width, self.height) else "{}x{}".format(*size)

        # Every frame is still checked before any output is written; the decodes run in parallel (each holds
        # one band of rows of a frame).
        workers = min(self.threads, PREFLIGHT_WORKERS)
        results = []
        for result in ordered_map(probe, frames, workers, 2 * workers):
            results.append(result)
            progress(len(results))
        unreadable = [f for f, r in results if r == "unreadable"]
        if unreadable:
            raise VideomatteError(
                f"unreadable or corrupt frames {format_frames(unreadable)} in {self.sequence.pattern}",
                hint="re-render or re-copy those frames", code="unreadable")
        wrong = [(f, r) for f, r in results if r]
        if wrong:
            sizes = ", ".join(f"{f}: {r}" for f, r in wrong[:8])
            raise VideomatteError(
                f"frames differ in size from {self.width}x{self.height} in {self.sequence.pattern} ({sizes})",
                hint="all frames of a shot must have one resolution; fix or exclude those frames",
                code="size_mismatch")


class VideoSource(FrameSource):
    kind = "video"

    def __init__(self, path: Path, colour: Colour, warn: Warn, threads: int, turn: bool) -> None:
        self.video = VideoFile(path, turn)
        super().__init__(str(path), self.video.frames, self.video.width, self.video.height,
                         colour(path.suffix, None), warn, threads, self.video.pixel_aspect)
        tagged = [t for t in (self.video.transfer, self.video.primaries) if t]
        if self.colour.chosen_by == "default" and tagged:
            warn(f"{path.name} is tagged {' and '.join(tagged)}; read as {self.colour.space}, its colours are off "
                 "(an HDR video also looks flat to the models): convert it to a linear EXR sequence, or pass "
                 "--input-colorspace with its space in your OCIO config")
        if self.video.off_rate:
            warn(f"{path.name} has a variable frame rate: {self.video.off_rate} of its {len(self.frames)} frames "
                 f"are not where a constant {self.video.rate:.3f} fps puts them; frames are numbered in the order "
                 f"shown (0-{len(self.frames) - 1}), and a host that places them by time (Blender, an editor) shows "
                 "other frames at those numbers: convert it to a constant-rate image sequence first (ffmpeg -i CLIP "
                 "-fps_mode cfr plate.%04d.png)")
        if self.video.interlaced:
            warn(f"{path.name} is interlaced: each frame is two fields woven together (as hosts show it unless told "
                 "to deinterlace), so moving edges comb and so will the matte; for a clean matte deinterlace it "
                 "first (ffmpeg -i CLIP -vf bwdif plate.%04d.png)")
        if self.video.in_decode_order:
            warn(f"{path.name} has no presentation times to order its frames by (a raw H.264 stream, or H.264 with "
                 "B-frames in AVI): frames are numbered in the order the decoder gives them, as FFmpeg does, and "
                 "every pass decodes from its first frame, slowly backwards: for a long clip, convert it to an image "
                 "sequence first (ffmpeg -i CLIP plate.%04d.png)")
        if turn and self.video.odd_rotation is not None:
            warn(f"{path.name} is flagged to play rotated {-self.video.odd_rotation:g}° clockwise, not a quarter "
                 "turn: it is matted as stored, as Blender shows it (players rotate it)")
        if turn and self.video.mirrored:
            warn(f"{path.name} is flagged to play mirrored (a front camera's clip): it is matted unmirrored, as "
                 "Blender shows it (players mirror it); draw the anchor on that picture")
        if self.video.turns:
            ccw = self.video.rotation  # counter-clockwise, as FFmpeg gives it: a portrait phone clip says 270
            words = "180°" if ccw == 180 else f"{360 - ccw}° clockwise" if ccw > 180 else f"{ccw}° counter-clockwise"
            shown = "Blender 4.4+ shows it" if self.video.mirrored else "players and Blender 4.4+ show it"
            warn(f"{path.name} is flagged to play turned {words} (a phone clip): it is matted turned, "
                 f"{self.width}x{self.height}, as {shown}; for a host that shows it unturned, pass --video-rotation "
                 "ignore")

    def files(self, frames: list[int]) -> list[Path]:
        return [self.video.path]

    def _converted(self, frames: list[int], linear: bool) -> Iterator[tuple[Decoded, int]]:
        decoded = (self._convert(frame, raw, linear) for frame, raw in self.video.iter_frames(frames))
        return background(decoded, READ_AHEAD if self.threads > 1 else 1)

    def check(self, frames: list[int], full: bool, progress: Progress = _quiet) -> None:
        missing = [f for f in frames if not 0 <= f < len(self.frames)]
        if missing:
            raise VideomatteError(f"frames {format_frames(missing)} are outside video {self.description} "
                                  f"(frames 0-{len(self.frames) - 1})",
                                  hint="video frames are numbered from 0; adjust --frame-start/--frame-end",
                                  code="missing_frames")
        if full:
            self.video.check(sorted(frames), progress)
        else:  # the packet scan that opened the video found every frame
            progress(len(frames))


def _video_by_content(path: Path, colour: Colour, warn: Warn, threads: int, turn: bool) -> VideoSource:
    """A file no image reader takes: a video in a container named otherwise (.MTS, .ts, .3gp), or no plate."""
    try:
        return VideoSource(path, colour, warn, threads, turn)
    except VideomatteError as exc:
        raise VideomatteError(f"--input {path}: neither OpenImageIO nor FFmpeg reads {path.suffix or 'this'} files",
                              hint="camera raw (R3D, BRAW, ARRIRAW, ...) must be debayered to an EXR sequence first "
                              "(the camera maker's tools or Resolve); convert anything else to EXR, DPX or PNG frames",
                              code="input") from exc


def open_source(text: str, colorspace: str, warn: Warn, threads: int = 1, ocio_config: str | None = None,
                foreground_colorspace: str | None = None, video_rotation: str = "auto") -> FrameSource:
    """The plate as display-referred frames; `colorspace` (auto or an OCIO name), `ocio_config` and
    `foreground_colorspace` say how its pixels are converted (io/ocio.py); `video_rotation` whether a video's
    rotation flag turns its frames (auto) or not (ignore). A sequence followed by its range, as Nuke's file
    browser and `nuke.getFileNameList()` spell it (`plate.####.exr 1001-1012`), is those frames, each present."""
    ranged = None if Path(text).expanduser().exists() else _RANGE.match(text)
    if ranged is not None:
        text, first, last = ranged.group(1), int(ranged.group(2)), int(ranged.group(3))
        if first > last:
            raise VideomatteError(f"--input {ranged.group(0)!r}: the range {first}-{last} is empty", code="range",
                                  hint=f"give the first frame, then the last: {text} {last}-{first}")
    source = _open(text, colorspace, warn, threads, ocio_config, foreground_colorspace, video_rotation)
    if ranged is None:
        return source
    present = set(source.frames)
    missing = [f for f in range(first, last + 1) if f not in present]
    if missing:
        raise VideomatteError(f"--input {ranged.group(0)!r}: frames {format_frames(missing)} are missing (the "
                              f"input has frames {format_frames(source.frames)})", code="missing_frames",
                              hint="render/copy the missing frames or give the range the input has")
    source.frames = list(range(first, last + 1))
    return source


def _open(text: str, colorspace: str, warn: Warn, threads: int, ocio_config: str | None,
          foreground_colorspace: str | None, video_rotation: str) -> FrameSource:
    colour = partial(plate_colour, colorspace, ocio_config, foreground_colorspace)
    path = Path(text).expanduser()
    if path.suffix.lower() in VIDEO_EXTENSIONS and "#" not in path.name and "%" not in path.name:
        if not path.is_file():
            raise VideomatteError(f"video file not found: {path}", hint="check --input", code="input")
        return VideoSource(path, colour, warn, threads, video_rotation == "auto")
    if path.is_file() and not image_suffix(path):
        return _video_by_content(path, colour, warn, threads, video_rotation == "auto")
    if path.is_dir():
        found = [f"{seq.pattern} ({format_frames(seq.frames)})" for seq in sequences_in(path)[:3]]
        hint = f"give its sequence: {' or '.join(found)}" if found else \
            f"give a sequence pattern such as {path / 'plate.####.exr'} (this folder holds none)"
        raise VideomatteError(f"--input {path} is a folder", hint=hint, code="input")
    sequence = parse_pattern(text)
    if sequence is None and path.is_file():  # an image file without a frame number
        raise VideomatteError(f"--input {path} is one image with no frame number: not a shot", code="input",
                              hint=f"to matte it as a one-frame shot, copy it as "
                                   f"{path.with_name(f'{path.stem}.1001{path.suffix}')} and give that")
    if sequence is None:
        raise VideomatteError(f"--input {text!r} is neither a video file nor a frame sequence",
                              hint="use a pattern with %04d, #### or @ (e.g. shot/plate.####.exr) or a video file",
                              code="input")
    return SequenceSource(sequence.scan(), colour, warn, threads)
