"""Files the engine writes: atomic (temp file + rename), readable by others (mode from the umask), and every
OS error turned into one user-facing error with its fix; plus the sha256 of input files, cached."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import OutputError

_UMASK: int | None = None
_SHA256: dict[tuple[str, int, int], str] = {}
PERSIST_SHA_FROM = 16 << 20  # bytes: files this large (model checkpoints) keep their sha256 in a cache file


def umask() -> int:
    """The process umask (read once: reading it means setting it)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def output_error(exc: OSError, path: Path) -> OutputError:
    """One line naming the file and the cause, with the fix; the frames already written are kept."""
    resume = "; frames already written are kept: rerun with --resume"
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", None):
        return OutputError(f"cannot write {path}: no space left on the device", code="disk_full",
                           hint=f"free space on the disk holding {path.parent}{resume}")
    if exc.errno == errno.EROFS:
        return OutputError(f"cannot write {path}: the filesystem is read-only", code="read_only",
                           hint="choose a writable --output-dir (or remount the disk read-write)" + resume)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(f"cannot write {path}: permission denied", code="permission",
                           hint=f"make {path.parent} writable for this user, or choose another --output-dir" + resume)
    return OutputError(f"cannot write {path}: {exc.strerror or exc}", code="write",
                       hint="check the disk and the output folder" + resume)


def make_dirs(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, path) from None


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp)` fills a temp file in the same folder, which is then given the umask's permissions and
    renamed over `path`: no reader ever sees a partial file, a failure leaves no temp file behind."""
    path = Path(path)
    make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise output_error(exc, path) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600: colleagues and farm nodes must read the matte
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(exc, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _temp_prefix(path: Path) -> str:
    """atomic_write's temp files are `<prefix><random><suffix>` beside `path`: hidden, and named after it."""
    return f".{path.stem}."


def remove_stale_temps(paths: list[Path]) -> int:
    """Delete the temp files a killed writer left for these final paths (atomic_write's names); each folder is
    listed once. Only for paths no other live process may be writing (the caller holds their lock). Returns how
    many were removed."""
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for path in map(Path, paths):
        wanted.setdefault(path.parent, set()).add((_temp_prefix(path), path.suffix))
    removed = 0
    for folder, names in wanted.items():
        try:
            entries = [n for n in os.listdir(folder) if n.startswith(".")]
        except FileNotFoundError:
            continue
        for name in entries:
            root, suffix = os.path.splitext(name)
            head, _, random = root.rpartition(".")  # the random part has no dot (tempfile's letters, digits, _)
            if random and (head + ".", suffix) in names:
                (folder / name).unlink(missing_ok=True)
                removed += 1
    return removed


def no_space(path: Path) -> bool:
    """Whether the disk holding `path` is full (for writers, like OpenImageIO's, that report no errno)."""
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2, default=str) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # a report that survives power loss says what the run did

    atomic_write(path, write)


def _sha_cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "videomatte-hq" / "sha256.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime): in the process, and on disk for large files (model
    checkpoints, hashed once, not at every run)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _SHA256:
        return _SHA256[key]
    persist = stat.st_size >= PERSIST_SHA_FROM
    disk_key = "|".join(map(str, key))
    if persist:
        try:
            cached = json.loads(_sha_cache_file().read_text())
        except (OSError, ValueError):
            cached = {}
        if disk_key in cached:
            _SHA256[key] = cached[disk_key]
            return cached[disk_key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    _SHA256[key] = digest.hexdigest()
    if persist:
        try:
            write_json(_sha_cache_file(), {**cached, disk_key: _SHA256[key]})
        except OutputError:
            pass  # a read-only home: hash again next time
    return _SHA256[key]
