"""Video plates through PyAV. Frames are numbered 0..n-1 in presentation order."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from av.sidedata.sidedata import Type as SideData

from ..errors import VideomatteError

# An animated GIF (a reference clip off the web) too: as an image, OpenImageIO would give its first frame only.
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".mxf", ".m4v", ".mpg", ".mpeg", ".gif"}
SD_HEIGHT = 576  # the tallest standard-definition picture (PAL): taller untagged video is read as BT.709
UNSPECIFIED_MATRIX = {2, 3}  # AVColorSpace unspecified, reserved
REVERSE_CHUNK = 16  # frames decoded forward per chunk when walking a video backwards
REORDER_PROBE = 8  # pictures decoded to tell decode times from presentation times
QUARTER_TOLERANCE = 1.0  # degrees: a display rotation this close to a quarter turn is one (as FFmpeg's autorotate)
# High-dynamic-range transfer functions (FFmpeg's AVColorTransferCharacteristic) and wide-gamut primaries
# (AVColorPrimaries: BT.2020, DCI-P3, Display P3): a stream tagged so is not the sRGB-like video the default assumes.
TRANSFERS = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}
WIDE_PRIMARIES = {9: "BT.2020 primaries", 11: "DCI-P3 primaries", 12: "Display P3 primaries"}


def _picture(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The shot's video stream, as FFmpeg picks it: not a cover picture or thumbnail stream listed before it."""
    stream = container.streams.best("video")
    if stream is None:
        raise IndexError("no video stream")
    return stream


def _rising(times: list[int | None]) -> bool:
    return all(a is not None and b is not None and a < b for a, b in zip(times, times[1:]))


class Picture(NamedTuple):
    """What the first pictures a decoder puts out say of the stream."""

    pts: int | None
    rotation: float  # counter-clockwise degrees of the display matrix (FFmpeg's av_display_rotation_get)
    mirrored: bool  # the display matrix also mirrors the picture (a front camera's)
    interlaced: bool  # two fields woven into each frame (1080i broadcast, DV)


def _mirrored(frame: av.VideoFrame) -> bool:
    for data in frame.side_data:
        if data.type == SideData.DISPLAYMATRIX:
            a, b, _, c, d, *_ = struct.unpack("=9i", bytes(data))
            return a * d - b * c < 0
    return False


def _first_pictures(path: Path, count: int) -> list[Picture]:
    """The first `count` pictures the decoder puts out, from a fresh open (a raw stream cannot seek back); fewer
    where the file is damaged (the check names the frame)."""
    found = []
    with av.open(str(path)) as container:
        try:
            for frame in islice(container.decode(_picture(container)), count):
                found.append(Picture(frame.pts, frame.rotation, _mirrored(frame), frame.interlaced_frame))
        except av.FFmpegError:
            pass
    return found


class VideoFile:
    """Random access by frame index: a packet scan gives every frame's pts, seeks go to keyframes. With `turn`,
    frames are turned by the stream's rotation flag as Blender 4.4+ shows them (a quarter turn as FFmpeg and
    players too; a mirror and other angles not)."""

    def __init__(self, path: Path, turn: bool) -> None:
        self.path = path
        try:
            with av.open(str(path)) as container:
                stream = _picture(container)
                # Packets an edit list trims (a clip cut without re-encoding starts mid-GOP) are decoded for the
                # frames that follow but never shown: they are not frames of the shot.
                pts = [p.pts for p in container.demux(stream) if p.size and not p.is_discard]
                # pts that rise in decode order while the decoder may reorder (B-frames) may be decode times (H.264
                # in AVI): the first pictures put out tell.
                maybe_decode_times = stream.codec_context.has_b_frames and _rising(pts)
                self.width, self.height = stream.codec_context.width, stream.codec_context.height
                self.transfer = TRANSFERS.get(stream.codec_context.color_trc)
                self.primaries = WIDE_PRIMARIES.get(stream.codec_context.color_primaries)
                aspect = stream.codec_context.sample_aspect_ratio  # None or 0 where the stream does not say
                self.pixel_aspect = float(aspect) if aspect else 1.0
                depth = max((c.bits for c in stream.codec_context.format.components), default=8)
                # A stream that does not say its YCbCr matrix: swscale would take BT.601 whatever the size; HD and
                # larger is BT.709, as players and compositing hosts read it (saturated colours shift otherwise).
                untagged = stream.codec_context.colorspace in UNSPECIFIED_MATRIX
                self.matrix = "ITU709" if untagged and self.height > SD_HEIGHT else None
                time_base = stream.time_base
            first = _first_pictures(path, REORDER_PROBE if maybe_decode_times else 1) if pts else []
        except (av.FFmpegError, IndexError, OSError) as exc:
            raise VideomatteError(f"cannot open video {path}: {exc}",
                                  hint="check the file plays; convert it to an image sequence if the codec is rare",
                                  code="unreadable") from exc
        if not pts:
            raise VideomatteError(f"video {path} has no decodable frames", hint="check the file", code="unreadable")
        # Where the pts cannot order the pictures (a raw stream has none), frames are numbered as the decoder puts
        # them out, as FFmpeg does, and every read decodes from the start (no seek lands on a known frame).
        self.in_decode_order = None in pts or maybe_decode_times and not _rising([p.pts for p in first])
        self.pts = list(range(len(pts))) if self.in_decode_order else sorted(pts)
        # The display rotation as Blender 4.4+ applies it (checked in Blender 4.5 and 5.0): quarter turns only, by the
        # matrix's angle; another angle leaves the picture as stored, and a mirror in the matrix is not applied.
        opening = first[0] if first else Picture(None, 0.0, False, False)  # undecodable: the check names it
        angle = opening.rotation
        quarter = round(angle / 90) * 90
        self.rotation = quarter % 360 if abs(angle - quarter) < QUARTER_TOLERANCE else 0  # counter-clockwise
        self.odd_rotation = None if self.rotation or abs(angle) < QUARTER_TOLERANCE else angle
        self.mirrored, self.interlaced = opening.mirrored, opening.interlaced
        self.high_bit_depth = depth > 8
        # Frames are numbered in the order shown. A host that places a video's frames by time (Blender, an editor)
        # puts frame i at round(t / mean duration): where that differs (a variable-rate phone clip), its frame
        # numbers name other pictures than ours.
        step = (self.pts[-1] - self.pts[0]) / max(len(self.pts) - 1, 1)
        by_time = np.round((np.asarray(self.pts, np.float64) - self.pts[0]) / step) if step else None
        self.off_rate = 0 if by_time is None or self.in_decode_order else \
            int((by_time != np.arange(len(self.pts))).sum())
        self.rate = 1.0 / float(step * time_base) if step else 0.0
        self.turns = self.rotation // 90 if turn else 0  # quarter turns counter-clockwise
        if self.turns % 2:  # on its side: the picture's width is the stored height
            self.width, self.height, self.pixel_aspect = self.height, self.width, 1.0 / self.pixel_aspect
        self._index = {pts: i for i, pts in enumerate(self.pts)}

    @property
    def frames(self) -> list[int]:
        return list(range(len(self.pts)))

    def _to_array(self, frame: av.VideoFrame) -> np.ndarray:
        layout, scale = ("rgb48le", 65535.0) if self.high_bit_depth else ("rgb24", 255.0)
        rgb = np.rot90(frame.reformat(format=layout, src_colorspace=self.matrix).to_ndarray(), self.turns)
        return rgb.astype(np.float32, order="C") / scale

    def _undecodable(self, frame: int, reason: str = "") -> VideomatteError:
        return VideomatteError(f"frame {frame} of {self.path} could not be decoded{reason}",
                               hint="check the file plays through; convert the video to an image sequence",
                               code="unreadable")

    def _decode_from(self, first: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode forward starting at frame index `first` (seeking to the keyframe before it; from the start where
        frames are in decode order)."""
        with av.open(str(self.path)) as container:
            stream = _picture(container)
            if first > 0 and not self.in_decode_order:
                container.seek(self.pts[first], stream=stream, backward=True)
            shown = 0  # pictures put out so far: the frame index where the pts cannot say it
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:  # a damaged packet (decode order: name its own frame)
                    damaged = shown if self.in_decode_order else self._index.get(packet.pts, first)
                    raise self._undecodable(damaged, f" ({exc})") from exc
                for frame in decoded:
                    index = shown if self.in_decode_order else self._index.get(frame.pts)
                    shown += 1
                    if index is not None and index >= first:
                        yield index, frame

    def _ascending(self, frames: list[int]) -> Iterator[tuple[int, av.VideoFrame]]:
        """`frames` (ascending, not empty) in one decode; a frame the decoder skips is an error, never a frame left
        out."""
        pending = iter(frames)
        wanted = next(pending)
        for index, frame in self._decode_from(wanted):
            if index > wanted:
                raise self._undecodable(wanted)
            if index == wanted:
                yield index, frame
                wanted = next(pending, None)
                if wanted is None:
                    return
        raise self._undecodable(wanted)

    def check(self, frames: list[int], progress: Callable[[int], None]) -> None:
        """Decode `frames` (ascending) without converting them: the full preflight; `progress` gets the count
        decoded so far."""
        if frames:
            for done, _ in enumerate(self._ascending(frames), 1):
                progress(done)

    def iter_frames(self, frames: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Frames in the order asked; ascending runs stream, descending ones decode in small chunks."""
        if not frames:
            return
        if frames == sorted(frames):
            for index, frame in self._ascending(frames):
                yield index, self._to_array(frame)
            return
        for start in range(0, len(frames), REVERSE_CHUNK):
            chunk = frames[start:start + REVERSE_CHUNK]
            lo, hi = min(chunk), max(chunk)
            decoded: dict[int, np.ndarray] = {}
            for index, frame in self._decode_from(lo):
                if index in chunk:
                    decoded[index] = self._to_array(frame)
                if index >= hi:
                    break
            for frame in chunk:
                if frame not in decoded:
                    raise self._undecodable(frame)
                yield frame, decoded[frame]
