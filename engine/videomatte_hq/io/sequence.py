"""Frame-sequence patterns: `%04d`, `####`, `@`, Houdini's `$F4`, frame numbers taken from the files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VideomatteError
from .images import image_suffix

_TOKEN = re.compile(r"%0?(\d*)d|#+|@+|\$F(\d*)")


@dataclass(frozen=True)
class ImageSequence:
    """A numbered image sequence on disk: `directory/prefix<frame>suffix`.

    `padding` is the minimum digit count (0 = unpadded); numbers wider than the
    padding are allowed (frame 10000 of a `%04d` sequence).
    """

    directory: Path
    prefix: str
    suffix: str
    padding: int
    frames: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict, repr=False)  # the files `scan` found, by frame

    @property
    def pattern(self) -> str:
        return str(self.directory / f"{self.prefix}{'#' * max(self.padding, 1)}{self.suffix}")

    def path(self, frame: int) -> Path:
        """A found frame's file; any other frame's name as printf's `%0Nd` spells it (-1 is `-001`)."""
        return self.directory / self.names.get(frame, f"{self.prefix}{frame:0{self.padding}d}{self.suffix}")

    def _number(self, digits: str) -> int | None:
        """The frame a file's number field spells under this padding, or None. A negative frame has the padding's
        width with its sign (printf: Nuke, Houdini, OpenImageIO) or without (`-0001`)."""
        sign, body = ("-", digits[1:]) if digits.startswith("-") else ("", digits)
        widths = (self.padding - 1, self.padding) if sign else (self.padding,)
        if self.padding > 1 and len(body) not in widths and (len(body) < self.padding or body[0] == "0"):
            return None
        return int(sign + body)

    def scan(self) -> "ImageSequence":
        """The same sequence with `frames` filled from the files present."""
        rx = re.compile(f"^{re.escape(self.prefix)}(-?\\d+){re.escape(self.suffix)}$")
        found: dict[int, str] = {}
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                m = rx.match(entry.name)
                number = None if m is None else self._number(m.group(1))
                if number is None:
                    continue
                if number in found:
                    raise VideomatteError(
                        f"frame {number} exists twice in {self.pattern}: {found[number]} and {entry.name}",
                        hint="remove one of the files", code="input")
                found[number] = entry.name
        return ImageSequence(self.directory, self.prefix, self.suffix, self.padding, sorted(found), found)


def parse_pattern(text: str) -> ImageSequence | None:
    """Parse a sequence pattern, or an existing image file with a frame number (`plate.1001.exr`); None if not a
    sequence."""
    path = Path(text).expanduser()
    name = path.name
    tokens = list(_TOKEN.finditer(name))
    if tokens:
        if len(tokens) > 1:
            raise VideomatteError(f"input pattern {text!r} has more than one frame-number field",
                                  hint="use one %04d, #### or @ field", code="input")
        m = tokens[0]
        tok = m.group(0)
        if tok.startswith("%"):
            padding = int(m.group(1) or 0)
        elif tok.startswith("$"):
            padding = int(m.group(2) or 0)
        elif tok.startswith("@") and len(tok) == 1:
            padding = 0
        else:
            padding = len(tok)
        return ImageSequence(path.parent, name[: m.start()], name[m.end():], padding)
    if path.is_file() and image_suffix(path):  # numbered clips (an AVCHD card's 00001.MTS) are no sequence
        m = re.search(r"(\d+)(\.[A-Za-z0-9]+)$", name)
        if m:
            digits = m.group(1)
            padding = len(digits) if digits.startswith("0") or len(digits) >= 4 else 0
            return ImageSequence(path.parent, name[: m.start(1)], name[m.end(1):], padding)
    return None


def sequences_in(folder: Path) -> list[ImageSequence]:
    """The numbered image sequences in `folder` (`plate.1001.exr`, ...), the longest first: what an --input
    that names the folder may have meant."""
    found: dict[tuple[str, str, int], ImageSequence] = {}
    for entry in sorted(folder.iterdir()):
        sequence = parse_pattern(str(entry)) if entry.is_file() and not set("%#@") & set(entry.name) else None
        if sequence is not None:
            found.setdefault((sequence.prefix, sequence.suffix, sequence.padding), sequence)
    return sorted((sequence.scan() for sequence in found.values()), key=lambda sequence: -len(sequence.frames))
