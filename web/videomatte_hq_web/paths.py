"""The file roots the server may touch: every path from a request is checked here (no `..`, no symlink out)."""

from __future__ import annotations

import os
from pathlib import Path

from videomatte_hq.io.sequence import parse_pattern


class PathRefused(ValueError):
    """A request named a path outside the configured roots (or one that is not absolute)."""


class Roots:
    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r).expanduser().resolve() for r in roots]

    def check(self, text: str, what: str = "path") -> Path:
        """`text` as a real path (symlinks resolved) under one of the roots; a sequence pattern keeps its file
        name (`plate.####.exr`) and has its folder checked."""
        if not text or not str(text).strip():
            raise PathRefused(f"{what}: no path given")
        path = Path(str(text).strip()).expanduser()
        if not path.is_absolute():
            raise PathRefused(f"{what} {text!r} is not an absolute path (use Browse)")
        if ".." in path.parts:
            raise PathRefused(f"{what} {text!r} contains '..'")
        pattern = parse_pattern(str(path)) if not path.exists() else None
        real = (path.parent.resolve() / path.name) if pattern is not None else path.resolve()
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise PathRefused(f"{what} {text!r} is outside the folders this server may use "
                              f"({', '.join(map(str, self.roots))}); start videomatte-hq-web with --root")
        return real

    def listing(self, folder: str | None) -> dict:
        """A folder's entries for the Browse dialog: sub-folders, then files, with numbered frames collapsed
        into one `####` sequence entry. No folder: the roots themselves."""
        if not folder:
            return {"path": None, "parent": None,
                    "entries": [{"name": str(r), "path": str(r), "kind": "dir"} for r in self.roots]}
        real = self.check(folder, "folder")
        if not real.is_dir():
            raise PathRefused(f"{folder!r} is not a folder")
        dirs, files = [], []
        with os.scandir(real) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                try:
                    target = self.check(entry.path)  # a symlink out of the roots is not listed
                except PathRefused:
                    continue
                (dirs if target.is_dir() else files).append(entry.name)
        entries = [{"name": d, "path": str(real / d), "kind": "dir"} for d in sorted(dirs)]
        entries += _collapse(real, sorted(files))
        parent = None if real in self.roots else str(real.parent)
        return {"path": str(real), "parent": parent, "entries": entries}


def _collapse(folder: Path, names: list[str]) -> list[dict]:
    """Files with a frame number become one sequence entry per pattern (single numbered files stay files)."""
    groups: dict[str, list[int]] = {}
    for name in names:
        sequence = parse_pattern(str(folder / name))
        if sequence is not None and sequence.padding:
            number = name[len(sequence.prefix):len(name) - len(sequence.suffix)]
            groups.setdefault(sequence.pattern, []).append(int(number))
    entries, grouped = [], set()
    for pattern, frames in groups.items():
        if len(frames) > 1:
            name = Path(pattern).name
            entries.append({"name": name, "path": pattern, "kind": "sequence", "frames": [min(frames), max(frames)],
                            "count": len(frames)})
            grouped.add(pattern)
    for name in names:
        sequence = parse_pattern(str(folder / name))
        if sequence is None or not sequence.padding or sequence.pattern not in grouped:
            entries.append({"name": name, "path": str(folder / name), "kind": "file"})
    return sorted(entries, key=lambda e: e["name"])
