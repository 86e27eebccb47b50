"""Scene frame <-> source frame for Blender Image nodes (bpy-free, so it is tested without Blender).

An Image node showing a sequence or movie maps the scene frame to the file frame as
`clamp(scene - frame_start + 1, 1, frame_duration) + frame_offset` (measured in Blender 5.0; before
`frame_start` it shows nothing, after the end it holds the last frame). Sequence file frames are the numbers
in the file names, which is what the engine uses too; movie file frames count from 1 while the engine
numbers video frames from 0.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


def shot_name(path: str) -> str:
    """The plate's name for folders: `sh010_plate.1001.exr` -> `sh010_plate`, `clip.mov` -> `clip`."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[._-]\d+$", "", stem) or stem


@dataclass(frozen=True)
class ImageTiming:
    frame_start: int  # scene frame where the clip starts
    frame_duration: int
    frame_offset: int
    movie: bool = False

    def file_frame(self, scene_frame: int) -> int:
        return min(max(scene_frame - self.frame_start + 1, 1), self.frame_duration) + self.frame_offset

    def engine_frame(self, scene_frame: int) -> int:
        return self.file_frame(scene_frame) - (1 if self.movie else 0)

    def scene_frame(self, engine_frame: int) -> int:
        """The scene frame that shows `engine_frame` (inside the clip)."""
        return engine_frame + (1 if self.movie else 0) - self.frame_offset + self.frame_start - 1

    def engine_range(self, scene_first: int, scene_last: int) -> tuple[int, int]:
        """Engine frames for a scene range, clipped to what the node actually shows."""
        first = max(scene_first, self.frame_start)
        last = min(scene_last, self.frame_start + self.frame_duration - 1)
        if first > last:
            raise ValueError(f"scene frames {scene_first}-{scene_last} are outside the plate's frames "
                             f"{self.frame_start}-{self.frame_start + self.frame_duration - 1}")
        return self.engine_frame(first), self.engine_frame(last)


def result_timing(plate: ImageTiming, engine_first: int, engine_last: int) -> ImageTiming:
    """Timing for an Image node showing the engine's output sequence (files named by engine frame) in sync
    with the plate node."""
    return ImageTiming(plate.scene_frame(engine_first), engine_last - engine_first + 1, engine_first - 1)
