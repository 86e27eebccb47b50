"""Tiles on a torch backend's device: the frame and its uint8 trimap uploaded once, tiles gathered, refined and
blended there, the alpha downloaded once. The same arithmetic as tiling.HostCanvas (which serves every backend),
so the two give the same alpha; on a GPU it saves the per-batch uploads and the host's numpy blending."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..torch_device import to_device, to_host
from ..trimap import trimap_to_unit
from .tiling import Tile, blend_weight


class DeviceCanvas:
    def __init__(self, forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], device: torch.device,
                 image: np.ndarray, trimap: np.ndarray, overlap: int) -> None:
        """`forward`: (B, 3, h, w) image tiles and (B, 1, h, w) trimap tiles on `device` -> (B, 1, h, w) float32."""
        self.forward, self.device, self.overlap = forward, device, overlap
        self.image = to_device(image, device).permute(2, 0, 1)
        self.unit = trimap_to_unit(to_device(trimap, device))
        self.acc = torch.zeros_like(self.unit)
        self.wsum = torch.zeros_like(self.unit)
        self._weights: dict[tuple, torch.Tensor] = {}

    def _blend(self, tile: Tile, alpha: torch.Tensor) -> None:
        height, width = self.unit.shape
        # A tile's weights depend only on its size and on which of its sides touch the frame border.
        key = (tile.y1 - tile.y0, tile.x1 - tile.x0, tile.y0 > 0, tile.y1 < height, tile.x0 > 0, tile.x1 < width)
        if key not in self._weights:
            self._weights[key] = to_device(blend_weight(tile, height, width, self.overlap), self.device)
        weight = self._weights[key]
        self.acc[tile.slices] += weight * alpha
        self.wsum[tile.slices] += weight

    def add(self, tile: Tile, alpha: np.ndarray) -> None:
        """A reused tile: the previous frame's written alpha."""
        self._blend(tile, to_device(alpha, self.device))

    def refine(self, tiles: list[Tile]) -> None:
        images = torch.stack([self.image[:, t.y0:t.y1, t.x0:t.x1] for t in tiles])
        units = torch.stack([self.unit[t.slices] for t in tiles])[:, None]
        for tile, alpha in zip(tiles, self.forward(images, units)[:, 0]):
            self._blend(tile, alpha)

    def alpha(self) -> np.ndarray:
        # Outside the tiles wsum is 0; those pixels are known, and where() takes the trimap there.
        alpha = torch.where(self.unit == 0.5, self.acc / self.wsum, (self.unit == 1.0).to(torch.float32))
        return to_host(alpha)
