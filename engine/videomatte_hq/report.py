"""The run report (`run_summary.json`, or a farm step's own file): written when the run starts, kept current
as frames complete (a heartbeat too), finalised as `ok`, `failed` (with the error and its fix) or `cancelled`.

`ReportWriter` is an event sink: the stages only emit events, the report folds them in. `read_status` tells a
live run from one that died (SIGKILL, power loss): a dead pid on this host, or a stale heartbeat, is
`interrupted`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import OutputError
from .fileio import write_json
from .version import __version__

VERSIONED_PACKAGES = ("numpy", "OpenImageIO", "opencv-python", "av", "pymatting", "torch", "ultralytics")
WRITE_INTERVAL = 1.0  # s between report writes while frames complete
HEARTBEAT = 5.0  # s between heartbeat writes when no frame completes (a long model step)
STALE_AFTER = 60.0  # s without a heartbeat after which a run on another host counts as interrupted


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"videomatte-hq": __version__}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@dataclass
class StageProgress:
    frames: int
    done: int = 0
    resumed: int = 0


@dataclass
class RunReport:
    """What ran, with what, how far it got. The JSON keys are the documented run_summary.json fields."""

    run_id: str
    input: str
    input_kind: str
    plate_size: list[int]
    input_linear: bool
    colour: dict[str, Any]  # io/ocio.py: the OCIO config and the plate's colour space
    requested_frame_start: int
    requested_frame_end: int
    frame_start: int
    frame_end: int
    frame_count: int
    stages: list[str]
    anchor: dict[str, Any]
    auto_anchor: dict[str, Any] | None
    backends: dict[str, Any]
    config_hash: dict[str, str]
    device: str
    precision: str
    outputs: dict[str, Any]
    status: str = "running"
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started: float = field(default_factory=time.time)
    heartbeat: float = field(default_factory=time.time)
    finished: float | None = None
    progress: dict[str, StageProgress] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    tiles: dict[str, int] = field(default_factory=lambda: {"refined": 0, "skipped": 0})
    trimaps_written: int = 0
    frames_written: int = 0
    subject_lost_frames: list[int] = field(default_factory=list)
    drift_suspected_frames: list[int] = field(default_factory=list)  # drift.py: mask departs from the anchors'
    nonfinite_values_clamped: int = 0
    warnings: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None
    refine: dict[str, Any] | None = None  # the refine plan: mode (full/tiled), tile size, overlap, batch
    versions: dict[str, str | None] = field(default_factory=package_versions)

    def __post_init__(self) -> None:
        self.progress = {s: StageProgress(self.frame_count) for s in self.stages}

    def frame_done(self, stage: str, resumed: bool, tiles_refined: int = 0, tiles_skipped: int = 0,
                   subject_lost: bool = False, frame: int | None = None, drift_suspected: bool = False) -> None:
        progress = self.progress[stage]
        progress.done += 1
        progress.resumed += resumed
        if stage == "segment":
            self.trimaps_written += not resumed
            if subject_lost:
                self.subject_lost_frames.append(frame)
            if drift_suspected:
                self.drift_suspected_frames.append(frame)
        elif not resumed:
            self.frames_written += 1
            self.tiles["refined"] += tiles_refined
            self.tiles["skipped"] += tiles_skipped

    def finish(self, status: str, error: dict[str, str] | None = None) -> None:
        self.status, self.error, self.finished = status, error, time.time()
        self.stage_seconds["total"] = round(self.finished - self.started, 3)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReportWriter:
    """Event sink that keeps the report file current (at most every WRITE_INTERVAL s, plus a heartbeat)."""

    def __init__(self, path: Path, report: RunReport) -> None:
        self.path = path
        self.report = report
        self._lock = threading.Lock()
        self._last = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        with self._lock:
            self.report.heartbeat = time.time()
            data = self.report.to_dict()
            write_json(self.path, data)
            self._last = time.monotonic()

    def start(self) -> None:
        self._write()
        self._thread = threading.Thread(target=self._beat, name="videomatte-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self._write()
            except OutputError:
                pass  # the run's own next write reports a full or read-only disk

    def __call__(self, record: dict[str, Any]) -> None:
        kind, report = record["event"], self.report
        with self._lock:
            if kind == "frame_done":
                report.frame_done(record["stage"], record["resumed"], record.get("tiles_refined", 0),
                                  record.get("tiles_skipped", 0), record.get("subject_lost", False), record["frame"],
                                  record.get("drift_suspected", False))
            elif kind == "stage_end":
                report.stage_seconds[record["stage"]] = record["seconds"]
            elif kind == "warning":
                report.warnings.append(record["message"])
            elif kind == "refine_plan":
                report.refine = {k: record[k] for k in ("mode", "tile_size", "tile_overlap", "batch_size")}
            else:
                return
        if kind != "frame_done" or time.monotonic() - self._last >= WRITE_INTERVAL:
            self._write()

    def close(self, status: str, error: dict[str, str] | None = None) -> None:
        """Stop the heartbeat and write the final report (raises OutputError if the disk refuses it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self.report.finish(status, error)
        self._write()


def pid_alive(pid: int) -> bool | None:
    """Whether a process of this host is alive; None where it cannot be told without side effects
    (Windows: os.kill there would terminate it)."""
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process nobody reaped (a container whose init does not reap) still answers os.kill."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no procfs (macOS): os.kill's answer stands
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def run_state(report: dict[str, Any], now: float | None = None) -> str:
    """The report's status, with `running` turned into `interrupted` when its process is gone."""
    status = report.get("status", "unknown")
    if status != "running":
        return status
    now = time.time() if now is None else now
    alive = pid_alive(report["pid"]) if report.get("host") == socket.gethostname() else None
    if alive is False or now - report.get("heartbeat", 0) > STALE_AFTER:
        return "interrupted"
    return "running"


def read_status(paths: list[Path]) -> list[dict[str, Any]]:
    """Each report file with its derived `state` (and `file`)."""
    reports = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        reports.append({**data, "file": str(path), "state": run_state(data)})
    return reports
