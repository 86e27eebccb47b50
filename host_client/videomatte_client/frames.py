"""Frame numbers and sequence patterns (`####`, `%04d`, `@`) as the engine and the hosts write them."""

from __future__ import annotations

import re

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%0?(\d*)d")


def hashes_to_printf(pattern: str) -> str:
    """`plate.####.exr` -> `plate.%04d.exr` (Nuke and the engine accept both; Python formats the latter)."""
    return _HASHES.sub(lambda m: f"%0{len(m.group())}d", pattern)


def printf_to_hashes(pattern: str) -> str:
    """`plate.%04d.exr` -> `plate.####.exr`; `%d` (unpadded) -> `#`."""
    return _PRINTF.sub(lambda m: "#" * int(m.group(1) or 1), pattern)


def sequence_path(pattern: str, frame: int) -> str:
    """The file of `frame` in a `####` / `%04d` pattern."""
    return hashes_to_printf(pattern) % frame if "%" in hashes_to_printf(pattern) else pattern


def parse_frames(text: str) -> list[int]:
    """A frame list as an artist types it in a host ('40 80, 120') -> [40, 80, 120] (sorted, unique)."""
    frames = []
    for word in re.split(r"[\s,;]+", text.strip()):
        if word:
            if not re.fullmatch(r"-?\d+", word):
                raise ValueError(f"extra anchor frames: {word!r} is not a frame number (write e.g. 40 80 120)")
            frames.append(int(word))
    return sorted(set(frames))
