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


def chunks(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """Inclusive frame ranges of at most `size` frames covering first..last (farm chunks)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]
