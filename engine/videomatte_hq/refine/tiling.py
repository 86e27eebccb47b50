"""Tiled refinement: a fixed tile grid, tiles only where the band is, seamless blending, temporal reuse.

The grid is regular (stride = tile - overlap, the last row/column flush with the
border), so a tile keeps its identity from frame to frame and can be reused when its
trimap and image barely changed. Overlapping tiles are blended with weights that are
normalised to sum to 1 wherever any computed tile covers a pixel. Tiles are gathered, refined and blended on
a canvas: the backend's own (`tile_canvas`: a torch backend keeps the frame, the tiles and the blend on its
device, one upload and one download a frame) or, for any backend, the host canvas here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from ..trimap import UNKNOWN, trimap_to_unit


@dataclass(frozen=True)
class Tile:
    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def _starts(length: int, size: int, stride: int) -> list[int]:
    if length <= size:
        return [0]
    return list(range(0, length - size, stride)) + [length - size]


def tile_grid(height: int, width: int, size: int, overlap: int) -> list[Tile]:
    stride = max(1, size - overlap)
    return [Tile(y, x, min(y + size, height), min(x + size, width))
            for y in _starts(height, size, stride) for x in _starts(width, size, stride)]


def _ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
    weights = np.ones(length, np.float32)
    n = min(overlap, length // 2)
    if n:
        rise = np.arange(1, n + 1, dtype=np.float32) / (n + 1)
        if ramp_start:
            weights[:n] = rise
        if ramp_end:
            weights[-n:] = rise[::-1]
    return weights


def blend_weight(tile: Tile, height: int, width: int, overlap: int) -> np.ndarray:
    """Positive weights that fall off linearly inside the overlap, except at the frame border."""
    wy = _ramp(tile.y1 - tile.y0, overlap, tile.y0 > 0, tile.y1 < height)
    wx = _ramp(tile.x1 - tile.x0, overlap, tile.x0 > 0, tile.x1 < width)
    return np.outer(wy, wx)


class HostCanvas:
    """Tiles cut, refined by `backend.refine` and blended in numpy."""

    def __init__(self, backend, image: np.ndarray, trimap: np.ndarray, overlap: int) -> None:
        self.backend, self.image, self.overlap = backend, image, overlap
        self.unit = trimap_to_unit(trimap)
        self.acc = np.zeros(trimap.shape, np.float32)
        self.wsum = np.zeros(trimap.shape, np.float32)

    def add(self, tile: Tile, alpha: np.ndarray) -> None:
        weight = blend_weight(tile, *self.acc.shape, self.overlap)
        self.acc[tile.slices] += weight * alpha
        self.wsum[tile.slices] += weight

    def refine(self, tiles: list[Tile]) -> None:
        alphas = self.backend.refine([self.image[t.slices] for t in tiles], [self.unit[t.slices] for t in tiles])
        for tile, alpha in zip(tiles, alphas):
            self.add(tile, alpha)

    def alpha(self) -> np.ndarray:
        """Known pixels from the trimap, unknown ones the blend (every unknown pixel lies in a refined tile)."""
        alpha = np.floor(self.unit)  # 0, 0.5, 1 -> 0, 0, 1
        np.divide(self.acc, self.wsum, out=alpha, where=self.unit == 0.5)
        return alpha


@dataclass
class FrameMemory:
    """What temporal reuse compares against: the previous frame's image, trimap and written alpha."""

    image: np.ndarray  # uint8 RGB
    trimap: np.ndarray  # uint8 0/128/255
    alpha: np.ndarray  # float32, exactly as written to disk


class TiledRefiner:
    def __init__(self, backend, tile_size: int, overlap: int, batch_size: int, reuse: bool,
                 iou_threshold: float, image_delta: float) -> None:
        if overlap >= tile_size:
            raise ValueError("tile_overlap must be smaller than tile_size")
        self.backend = backend
        self.tile_size = tile_size
        self.overlap = overlap
        self.batch_size = batch_size
        self.reuse = reuse
        self.iou_threshold = iou_threshold
        self.image_delta = image_delta

    def _reusable(self, tile: Tile, unknown: np.ndarray, image_u8: np.ndarray, prev: FrameMemory | None) -> bool:
        if not self.reuse or prev is None:
            return False
        cur = unknown[tile.slices]
        old = prev.trimap[tile.slices] == UNKNOWN
        union = np.count_nonzero(cur | old)
        iou = np.count_nonzero(cur & old) / union if union else 1.0
        if iou < self.iou_threshold:
            return False
        # The mean absolute difference: cv2's L1 norm is the exact integer sum, in one pass without temporaries.
        cur_image = image_u8[tile.slices]
        delta = cv2.norm(cur_image, prev.image[tile.slices], cv2.NORM_L1) / cur_image.size / 255.0
        return delta <= self.image_delta

    def refine_frame(self, image: np.ndarray, image_u8: np.ndarray, trimap: np.ndarray,
                     prev: FrameMemory | None) -> tuple[np.ndarray, int, int]:
        """Alpha for one frame, plus the counts of tiles refined and reused.

        `image_u8` is the 8-bit copy that reuse compares (and the caller keeps as memory).
        """
        height, width = trimap.shape
        unknown = trimap == UNKNOWN
        tiles = [t for t in tile_grid(height, width, self.tile_size, self.overlap) if unknown[t.slices].any()]
        make_canvas = getattr(self.backend, "tile_canvas", None)
        canvas = (make_canvas or partial(HostCanvas, self.backend))(image, trimap, self.overlap)
        todo: list[Tile] = []
        for tile in tiles:
            if self._reusable(tile, unknown, image_u8, prev):
                canvas.add(tile, prev.alpha[tile.slices])
            else:
                todo.append(tile)
        for start in range(0, len(todo), self.batch_size):
            canvas.refine(todo[start:start + self.batch_size])
        return canvas.alpha(), len(todo), len(tiles) - len(todo)
