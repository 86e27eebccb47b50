"""No-op segment and refine backends for measuring the host path alone (bench/throughput.py): the segment
"model" returns the anchor as the probability of every frame, the refine "model" returns the trimap's values.
They follow the backend protocol of every engine revision since the first, so a baseline can load them too."""

from __future__ import annotations

import numpy as np


class NoopTracker:
    subject_lost = False

    def start(self, image, mask):
        self.mask = mask.astype(np.float32)
        return self.mask

    reanchor = start

    def step(self, image):
        return self.mask


class NoopSegment:
    name = "noop"
    display_name = "no-op segment"

    def __init__(self, config, warn) -> None:
        pass

    @staticmethod
    def model_files(config):
        return []

    def new_tracker(self):
        return NoopTracker()


class NoopRefine:
    name = "noop"
    display_name = "no-op refine"
    default_tile = 480
    default_overlap = 64
    default_batch = 4

    def __init__(self, config, warn) -> None:
        pass

    @staticmethod
    def model_files(config):
        return []

    def refine(self, images, trimaps):
        return [t.astype(np.float32) for t in trimaps]
