"""Stage 1: per-frame foreground probability, propagated from the anchor(s).

A backend makes trackers; `track()` drives them forward from the anchor frame and
backward from it, re-anchoring at extra anchors. Backends are looked up by name and
imported only when chosen, so weight-free runs never import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import registry
from ..io.source import Decoded


class Tracker(Protocol):
    """Follows one subject through consecutive frames; probabilities are (H, W) float32 in [0, 1]: numpy arrays, or
    torch tensors on the device the model ran on (the trimap and the drift check then work there)."""

    subject_lost: bool  # after each call: the model no longer sees the subject on that frame

    def start(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def reanchor(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def step(self, image: np.ndarray) -> np.ndarray: ...


class SegmentBackend(Protocol):
    name: str
    # Optional: `mask_from_box(config, image, box) -> mask | None` where the model can turn a box prompt into a
    # mask (auto-anchor asks for it instead of checking backend names); `frame_input = "u8"` where its trackers
    # take the frame's 8-bit RGB copy (made once at decode) instead of the float frame; `device`, the torch device
    # its model runs on (on a GPU the trimap is computed there, whether the probability comes as a tensor or not).

    @staticmethod
    def model_files(config) -> list[Path]:
        """As RefineBackend.model_files: resolved and checked in preflight."""

    def new_tracker(self) -> Tracker: ...


def backend_class(name: str):
    return registry.backend_class("segment", name)


def propagation_order(frames: list[int], anchor_frame: int) -> tuple[list[int], list[int]]:
    """Forward pass from the anchor to the end, backward pass from the anchor to the start."""
    forward = [f for f in frames if f >= anchor_frame]
    backward = [f for f in reversed(frames) if f <= anchor_frame]
    return forward, backward if len(backward) > 1 else []


def track(backend: SegmentBackend, frames: list[int], anchor_frame: int, anchors: dict[int, np.ndarray],
          read: Callable[[list[int]], Iterator[Decoded]]) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Yield (frame, probability, subject lost) for every frame once: the forward pass, then the backward pass."""
    forward, backward = propagation_order(frames, anchor_frame)
    u8 = getattr(backend, "frame_input", None) == "u8"
    for order in (forward, backward):
        tracker = backend.new_tracker()
        for i, decoded in enumerate(read(order)):
            frame, image = decoded.frame, decoded.rgb_u8 if u8 else decoded.rgb
            if i == 0:
                prob = tracker.start(image, anchors[frame])
            elif frame in anchors:
                prob = tracker.reanchor(image, anchors[frame])
            else:
                prob = tracker.step(image)
            if not (order is backward and i == 0):  # the anchor frame was produced by the forward pass
                yield frame, prob, tracker.subject_lost
