"""QC previews: plate, alpha, trimap and alpha-over composites, downscaled from the run's files and kept in an
LRU cache bounded in bytes (encoded images; the bound holds however many frames are scrubbed)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from videomatte_hq.io.images import read_image
from videomatte_hq.io.source import FrameSource, open_source
from videomatte_hq.layout import OutputLayout

KINDS = ("plate", "alpha", "trimap", "checker", "color")
CHECKER = 12  # px per checkerboard square in the preview
SOURCES_KEPT = 4  # open plate readers (a video keeps its container open)


class PreviewCache:
    """Encoded previews by key, least recently used dropped first once `max_bytes` would be exceeded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = make()  # outside the lock: other previews are served meanwhile
        if len(data) <= self.max_bytes:
            with self._lock:
                if key not in self._items:
                    self._items[key] = data
                    self.size += len(data)
                while self.size > self.max_bytes:
                    _, dropped = self._items.popitem(last=False)
                    self.size -= len(dropped)
        return data


class Previews:
    def __init__(self, cache_bytes: int) -> None:
        self.cache = PreviewCache(cache_bytes)
        self._sources: OrderedDict[tuple, FrameSource] = OrderedDict()
        self._lock = threading.Lock()

    def _source(self, job: dict) -> FrameSource:
        params = job["params"]
        key = (params["input"], params.get("input_colorspace") or "auto")
        with self._lock:
            if key not in self._sources:
                self._sources[key] = open_source(key[0], key[1], lambda message: None)
                while len(self._sources) > SOURCES_KEPT:
                    self._sources.popitem(last=False)
            self._sources.move_to_end(key)
            return self._sources[key]

    @staticmethod
    def layout(job: dict) -> OutputLayout:
        params = job["params"]
        return OutputLayout(Path(params["output_dir"]), params["alpha_format"], params.get("alpha_pattern"))

    def frames(self, job: dict) -> dict:
        """The frames of the job's range with an alpha / a trimap on disk so far."""
        layout = self.layout(job)
        first, last = job.get("frame_start"), job.get("frame_end")
        alpha = layout.alpha_files.scan().frames
        trimap = [f for f in (range(first, last + 1) if first is not None else []) if layout.trimap_path(f).is_file()]
        return {"frame_start": first, "frame_end": last, "alpha": alpha, "trimap": trimap}

    def image(self, job: dict, kind: str, frame: int, width: int, color: str) -> bytes:
        layout = self.layout(job)
        files = {"alpha": [layout.alpha_path(frame)], "trimap": [layout.trimap_path(frame)]}.get(
            kind, [layout.alpha_path(frame)] if kind in ("checker", "color") else [])
        stamp = tuple(p.stat().st_mtime_ns if p.is_file() else None for p in files)  # a rewritten frame refreshes
        key = (job["id"], kind, frame, width, color if kind == "color" else "", stamp)
        return self.cache.get(key, lambda: self._render(job, layout, kind, frame, width, color))

    def _render(self, job: dict, layout: OutputLayout, kind: str, frame: int, width: int, color: str) -> bytes:
        if kind == "trimap":
            return _encode(_grey(layout.trimap_path(frame), width), ".png")
        if kind == "alpha":
            return _encode(_grey(layout.alpha_path(frame), width), ".png")
        plate = _fit(self._source(job).read(frame), width)  # display-referred RGB in [0, 1]
        if kind == "plate":
            return _encode(plate, ".jpg")
        alpha = _fit(read_image(layout.alpha_path(frame))[0][:, :, 0], width, plate.shape[:2])[..., None]
        h, w = plate.shape[:2]
        if kind == "checker":
            squares = ((np.arange(h)[:, None] // CHECKER + np.arange(w)[None, :] // CHECKER) % 2).astype(np.float32)
            backdrop = np.repeat((0.4 + 0.3 * squares)[..., None], 3, axis=2)
        else:
            backdrop = np.broadcast_to(np.array([int(color[i:i + 2], 16) / 255 for i in (0, 2, 4)], np.float32),
                                       plate.shape)
        return _encode(plate * alpha + backdrop * (1.0 - alpha), ".jpg")


def _fit(image: np.ndarray, width: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Downscale (area filter) to `width` px wide, or to `size` (h, w); never up."""
    h, w = image.shape[:2]
    target = size or ((round(h * width / w), width) if w > width else (h, w))
    if target == (h, w):
        return image.astype(np.float32, copy=False)
    return cv2.resize(image.astype(np.float32, copy=False), (target[1], target[0]), interpolation=cv2.INTER_AREA)


def _grey(path: Path, width: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(path)
    return _fit(read_image(path)[0][:, :, 0], width)


def _encode(image: np.ndarray, ext: str) -> bytes:
    pixels = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(ext, pixels, [cv2.IMWRITE_JPEG_QUALITY, 88] if ext == ".jpg" else [])
    return data.tobytes()
