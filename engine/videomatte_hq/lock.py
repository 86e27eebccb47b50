"""The output-folder lock: one run (or one farm step) at a time per folder.

An OS file lock (`fcntl.flock` on POSIX, `msvcrt.locking` on Windows) dies with its process, so a lock left by
a killed run never blocks the next one. A whole run or the segment step holds the folder's lock exclusively;
refine chunks hold it shared (chunks run in parallel into one folder) plus an exclusive lock on their own
range. Who holds a lock is written beside it (`<lock>.json`), for the error message.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from .errors import OutputError
from .fileio import make_dirs, output_error

if os.name == "nt":
    import msvcrt

    def _try_lock(fd: int, shared: bool) -> bool:
        if shared:  # Windows has no shared lock: parallel chunks rely on their own range locks there
            return True
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
else:
    import fcntl

    def _try_lock(fd: int, shared: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

LOCK_NAME = ".videomatte-hq.lock"


class FolderLock:
    """Held from before the first output is written until the run ends; `release()` is idempotent."""

    def __init__(self, root: Path, stage: str, frames: tuple[int, int], run_id: str) -> None:
        self.root = root
        self.paths = [(root / LOCK_NAME, stage == "refine")]
        if stage == "refine":
            self.paths.append((root / f".videomatte-hq.refine.{frames[0]}-{frames[1]}.lock", False))
        self.info = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id, "stage": stage,
                     "frames": list(frames)}
        self._fds: list[int] = []
        self._made_root = False

    def acquire(self) -> FolderLock:
        self._made_root = not self.root.exists()
        make_dirs(self.root)
        for path, shared in self.paths:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                self.release()
                raise output_error(exc, path) from None
            if not _try_lock(fd, shared):
                os.close(fd)
                self.release()
                raise self._busy(path)
            self._fds.append(fd)
            if not shared:
                self._write_info(path)
        return self

    def _write_info(self, path: Path) -> None:
        try:
            Path(f"{path}.json").write_text(json.dumps(self.info))
        except OSError:
            pass  # the lock itself holds; only the error message of a competing run loses the holder's name

    def _busy(self, path: Path) -> OutputError:
        try:
            holder = json.loads(Path(f"{path}.json").read_text())
            who = f"pid {holder['pid']} on {holder['host']} (run {holder['run_id']}, stage {holder['stage']})"
        except (OSError, ValueError, KeyError):
            who = "farm refine chunks" if path.name == LOCK_NAME else "another run"
        return OutputError(f"{self.root} is in use by another videomatte-hq run: {who}", code="locked",
                           hint="wait for that run to end (`videomatte-hq status " + str(self.root) + "`), "
                                "cancel it, or choose another --output-dir")

    def release(self) -> None:
        for (path, shared), fd in zip(self.paths, self._fds):
            if not shared:
                Path(f"{path}.json").unlink(missing_ok=True)
            os.close(fd)  # closing drops the OS lock (a killed process drops it too)
        self._fds = []

    def discard(self) -> None:
        """Release, and remove the folder again if this run made it and wrote nothing (planning failed)."""
        self.release()
        if self._made_root:
            for path, _ in self.paths:
                path.unlink(missing_ok=True)
            try:
                self.root.rmdir()
            except OSError:
                pass  # not empty: something else is there now
