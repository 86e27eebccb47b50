"""Video plates through PyAV. Frames are numbered 0..n-1 in presentation order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import VideomatteError

VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".mxf", ".m4v", ".mpg", ".mpeg"}
REVERSE_CHUNK = 16  # frames decoded forward per chunk when walking a video backwards


class VideoFile:
    """Random access by frame index: a packet scan gives every frame's pts, seeks go to keyframes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                self.pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
                self.width, self.height = stream.codec_context.width, stream.codec_context.height
                depth = max((c.bits for c in stream.codec_context.format.components), default=8)
        except (av.FFmpegError, IndexError, OSError) as exc:
            raise VideomatteError(f"cannot open video {path}: {exc}",
                                  hint="check the file plays; convert it to an image sequence if the codec is rare",
                                  code="unreadable") from exc
        if not self.pts:
            raise VideomatteError(f"video {path} has no decodable frames", hint="check the file", code="unreadable")
        self.high_bit_depth = depth > 8
        self._index = {pts: i for i, pts in enumerate(self.pts)}

    @property
    def frames(self) -> list[int]:
        return list(range(len(self.pts)))

    def _to_array(self, frame: av.VideoFrame) -> np.ndarray:
        if self.high_bit_depth:
            return frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
        return frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0

    def _decode_from(self, first: int) -> Iterator[tuple[int, np.ndarray]]:
        """Decode forward starting at frame index `first` (seeking to the keyframe before it)."""
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            if first > 0:
                container.seek(self.pts[first], stream=stream, backward=True)
            for frame in container.decode(stream):
                index = self._index.get(frame.pts)
                if index is None or index < first:
                    continue
                yield index, self._to_array(frame)

    def iter_frames(self, frames: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Frames in the order asked; ascending runs stream, descending ones decode in small chunks."""
        if frames == sorted(frames):
            wanted = set(frames)
            for index, pixels in self._decode_from(frames[0] if frames else 0):
                if index in wanted:
                    yield index, pixels
                if frames and index >= frames[-1]:
                    return
            return
        for start in range(0, len(frames), REVERSE_CHUNK):
            chunk = frames[start:start + REVERSE_CHUNK]
            lo, hi = min(chunk), max(chunk)
            decoded: dict[int, np.ndarray] = {}
            for index, pixels in self._decode_from(lo):
                if index in chunk:
                    decoded[index] = pixels
                if index >= hi:
                    break
            for frame in chunk:
                if frame not in decoded:
                    raise VideomatteError(f"frame {frame} of {self.path} could not be decoded",
                                          hint="convert the video to an image sequence", code="unreadable")
                yield frame, decoded[frame]
