"""Run events: one emitter, pluggable sinks.

Every event is a dict with `event`, `time` (Unix seconds) and `run_id`, handed to each sink in turn: the
JSON-lines stream on stdout (the host protocol, README "Progress protocol"), the terminal (a rich progress bar,
warnings and errors on stderr), the live report on disk (report.ReportWriter) and any Python callable an
in-process caller passes (`videomatte_hq.run(config, on_event=...)`).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

# 2: every event carries `run_id`; run_start carries the output layout (`layout`).
PROTOCOL_VERSION = 2

# Share of the overall progress each stage gets; hosts show `progress` directly.
STAGE_WEIGHTS = {"segment": 0.4, "refine": 0.6}

PREFLIGHT_EVERY = 0.25  # seconds between preflight events

Sink = Callable[[dict[str, Any]], None]


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


class Events:
    def __init__(self, sinks: list[Sink] | tuple[Sink, ...] = (), run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.sinks = list(sinks)
        self.warnings: list[str] = []
        self._stages: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._preflight_sent = 0.0
        # Warnings may come from the tracker's thread in a one-pass run, frame_done from the writers': one event
        # at a time through the sinks (a JSON line is never cut by another).
        self._lock = threading.RLock()

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": round(time.time(), 3), "run_id": self.run_id, **fields}
        with self._lock:
            for sink in self.sinks:
                sink(record)
        return record

    def run_start(self, frames: int, frame_start: int, frame_end: int, stages: list[str],
                  layout: dict[str, Any]) -> None:
        self._stages = {s: frames for s in stages}
        self.emit("run_start", protocol=PROTOCOL_VERSION, frames=frames, frame_start=frame_start,
                  frame_end=frame_end, output_dir=layout["output_dir"], stages=stages, layout=layout)

    def preflight(self, checked: int, total: int, check: str) -> None:
        """Plate frames checked before run_start (a long shot on slow storage takes a while) by the `check`
        (`preflight`: full, headers): the first and last counts and at most one every PREFLIGHT_EVERY seconds
        between."""
        now = time.monotonic()
        if checked in (0, total) or now - self._preflight_sent >= PREFLIGHT_EVERY:
            self._preflight_sent = now
            self.emit("preflight", checked=checked, total=total, check=check)

    def stage_start(self, stage: str, frames: int) -> None:
        self._stages[stage] = frames
        self._done[stage] = 0
        self.emit("stage_start", stage=stage, frames=frames)

    def frame_done(self, stage: str, frame: int, resumed: bool = False, **fields: Any) -> None:
        with self._lock:  # sent by the writer threads as frames reach the disk
            self._done[stage] = self._done.get(stage, 0) + 1
            self.emit("frame_done", stage=stage, frame=frame, done=self._done[stage],
                      total=self._stages.get(stage, 0), progress=round(self.progress(), 4), resumed=resumed, **fields)

    def stage_end(self, stage: str, seconds: float) -> None:
        self.emit("stage_end", stage=stage, seconds=round(seconds, 3))

    def warning(self, message: str, code: str = "warning") -> None:
        with self._lock:
            self.warnings.append(message)
            self.emit("warning", code=code, message=message)

    def error(self, message: str, hint: str = "", code: str = "error") -> None:
        self.emit("error", code=code, message=message, hint=hint)

    def run_end(self, status: str, **fields: Any) -> None:
        self.emit("run_end", status=status, **fields)

    def progress(self) -> float:
        """Overall fraction done, weighting the stages this run executes."""
        weights = {s: STAGE_WEIGHTS.get(s, 1.0) for s in self._stages}
        total = sum(weights.values()) or 1.0
        done = sum(w * self._done.get(s, 0) / max(self._stages[s], 1) for s, w in weights.items())
        return done / total


class JsonLines:
    """The host protocol: one JSON object per line, flushed, on a stream that carries nothing else."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


class Console:
    """The terminal: a progress bar per stage (`bar`), warnings, errors with their fix, the final line.
    With `errors_only` (beside JSON lines) only errors are printed: a host that shows stderr still sees why."""

    def __init__(self, stream: TextIO, bar: bool = False, errors_only: bool = False) -> None:
        self.stream = stream
        self.bar = bar
        self.errors_only = errors_only
        self._progress = None
        self._tasks: dict[str, Any] = {}
        self._stages: list[str] = []

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _bars(self):
        """The rich progress display, started on first use."""
        if self._progress is None:
            from rich.console import Console as RichConsole
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                      console=RichConsole(file=self.stream))
            self._progress.start()
        return self._progress

    def _stop_bar(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()

    def __call__(self, record: dict[str, Any]) -> None:
        kind = record["event"]
        if kind == "run_start":
            self._stages = record["stages"]
        elif kind == "preflight" and self.bar:
            if "preflight" not in self._tasks:
                self._tasks["preflight"] = self._bars().add_task("preflight", total=record["total"])
            self._progress.update(self._tasks["preflight"], completed=record["checked"])
            if record["checked"] == record["total"]:
                self._tasks.pop("preflight")
                if not self._tasks:
                    self._stop_bar()
        elif kind == "stage_start" and self.bar:
            # Stages run one after the other or, in a one-pass run, side by side: a bar each while they run.
            self._tasks[record["stage"]] = self._bars().add_task(record["stage"], total=record["frames"])
        elif kind == "frame_done" and record["stage"] in self._tasks:
            self._progress.advance(self._tasks[record["stage"]])
        elif kind == "stage_end":
            self._tasks.pop(record["stage"], None)
            if not self._tasks:
                self._stop_bar()
        elif kind == "warning" and not self.errors_only:
            self._print(f"warning: {record['message']}")
        elif kind == "error":
            self._stop_bar()
            fix = record["hint"].replace("\n", "\n       ")  # one fix per line, aligned under the first
            self._print(f"error: {record['message']}" + (f"\n  fix: {fix}" if record["hint"] else ""))
        elif kind == "run_end" and record["status"] == "ok" and not self.errors_only:
            self._print(f"alpha written to {_shown(record['alpha_dir'])}" if "refine" in self._stages
                        else f"trimaps written to {_shown(Path(record['trimap_pattern']).parent)}")


def _shown(path: str | Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def terminal_sinks(mode: str, stdout: TextIO | None = None, stderr: TextIO | None = None) -> list[Sink]:
    """The sinks of a `--progress` mode: `jsonl` (stdout; errors on stderr too), `bar`, `none`
    (warnings and errors only), `auto` (bar on a terminal)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if mode == "auto":
        mode = "bar" if err.isatty() else "none"
    if mode == "jsonl":
        return [JsonLines(out), Console(err, errors_only=True)]
    return [Console(err, bar=mode == "bar")]
