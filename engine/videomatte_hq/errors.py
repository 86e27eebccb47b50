"""User-facing errors. Each carries the fix, so hosts and terminals can show both."""

from __future__ import annotations

import re


class VideomatteError(Exception):
    """An error the user can fix; `hint` says how. Exit code 2 by default."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "", code: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        return self.message


class ModelFileError(VideomatteError):
    """A model file is missing, unreadable or not allowed by the path policy (exit code 3)."""

    exit_code = 3


class OutputError(VideomatteError):
    """An output could not be written (no space, read-only filesystem, permissions) or the output folder is
    in use by another run (exit code 4). Frames already written stay intact and resumable."""

    exit_code = 4


class Cancelled(KeyboardInterrupt):
    """The run was cancelled (SIGTERM, Ctrl-C or an in-process cancel token); unwinds like Ctrl-C so
    temp files are removed and the report says `cancelled`."""


def short_reason(exc: Exception) -> str:
    """The gist of a library's exception for a one-line error (torch's load errors run to paragraphs of advice
    about weights_only and filing issues)."""
    text = re.split(r"(?<=[.!?])\s|\n", str(exc).strip(), maxsplit=1)[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def frame_range(first: int, last: int) -> str:
    """'1001-1100'; with a negative end '-5 to 3' (a dash there would read as a minus sign)."""
    return f"{first}-{last}" if min(first, last) >= 0 else f"{first} to {last}"


def format_frames(frames: list[int]) -> str:
    """Compact frame list for messages: [1,2,3,7] -> '1-3, 7'."""
    frames = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
            j += 1
        parts.append(str(frames[i]) if i == j else frame_range(frames[i], frames[j]))
        i = j + 1
    if len(parts) > 12:
        parts = parts[:12] + [f"... ({len(frames)} frames)"]
    return ", ".join(parts)
