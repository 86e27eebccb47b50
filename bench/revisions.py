"""The engines a side-by-side benchmark runs: this checkout's and a baseline revision's."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def engines(baseline: str | None, folder: Path, baseline_dir: Path | None = None) -> Iterator[dict[str, Path]]:
    """{"this": this checkout's engine folder, baseline: the baseline's}: from `baseline_dir` (a checkout of it
    already on disk, where there is no git history) or a temporary git worktree in `folder`, removed after."""
    found = {"this": ROOT / "engine"}
    if baseline_dir:
        found[baseline] = baseline_dir / "engine"
    elif baseline:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder / "baseline"), baseline],
                       check=True, capture_output=True)
        found[baseline] = folder / "baseline" / "engine"
    try:
        yield found
    finally:
        if baseline and not baseline_dir:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder / "baseline")],
                           capture_output=True)


def in_round(found: dict[str, Path], round_: int) -> list[tuple[str, Path]]:
    """The engines in the order of round `round_` (from 1): reversed every other round, since on a shared machine
    a process's place in the sequence moves its time."""
    return list(found.items())[::-1 if round_ % 2 == 0 else 1]
