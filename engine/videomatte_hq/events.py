"""The progress protocol: JSON lines on stdout, the contract the host adapters read.

Every event is one JSON object on its own line with an ``event`` key; see README
"Progress protocol". Terminal users get a rich progress bar with ETA instead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

PROTOCOL_VERSION = 1

# Share of the overall progress each stage gets; hosts show `progress` directly.
STAGE_WEIGHTS = {"segment": 0.4, "refine": 0.6}


class Events:
    """Emits run events in one of the modes `jsonl`, `bar`, `none` (`auto` picks bar on a TTY)."""

    def __init__(self, mode: str = "auto", stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        if mode == "auto":
            mode = "bar" if self.err.isatty() else "none"
        self.mode = mode
        self._bar = None
        self._task = None
        self._stages: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self.warnings: list[str] = []

    # -- emission ---------------------------------------------------------
    def _json(self, event: str, **fields: Any) -> None:
        if self.mode == "jsonl":
            record = {"event": event, "time": round(time.time(), 3), **fields}
            self.out.write(json.dumps(record) + "\n")
            self.out.flush()

    def _text(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line)
        else:
            self.err.write(line + "\n")
            self.err.flush()

    # -- public events ------------------------------------------------------
    def run_start(self, frames: int, frame_start: int, frame_end: int, output_dir: str, stages: list[str]) -> None:
        self._stages = {s: frames for s in stages}
        self._json("run_start", protocol=PROTOCOL_VERSION, frames=frames, frame_start=frame_start,
                   frame_end=frame_end, output_dir=output_dir, stages=stages)

    def stage_start(self, stage: str, frames: int) -> None:
        self._stages[stage] = frames
        self._done[stage] = 0
        self._json("stage_start", stage=stage, frames=frames)
        if self.mode == "bar":
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=None, transient=False)
            self._bar.start()
            self._task = self._bar.add_task(stage, total=frames)

    def frame_done(self, stage: str, frame: int, **fields: Any) -> None:
        self._done[stage] = self._done.get(stage, 0) + 1
        self._json("frame_done", stage=stage, frame=frame, done=self._done[stage],
                   total=self._stages.get(stage, 0), progress=round(self.progress(), 4), **fields)
        if self._bar is not None:
            self._bar.advance(self._task)

    def stage_end(self, stage: str, seconds: float, **fields: Any) -> None:
        self._json("stage_end", stage=stage, seconds=round(seconds, 3), **fields)
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def warning(self, message: str, code: str = "warning", **fields: Any) -> None:
        self.warnings.append(message)
        self._json("warning", code=code, message=message, **fields)
        if self.mode != "jsonl":
            self._text(f"warning: {message}")

    def error(self, message: str, hint: str = "", code: str = "error") -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self._json("error", code=code, message=message, hint=hint)
        # Always on stderr too: a host that only shows stderr still sees why the run failed.
        fix = hint.replace("\n", "\n       ")  # one fix per line, aligned under the first
        self.err.write(f"error: {message}\n" + (f"  fix: {fix}\n" if hint else ""))
        self.err.flush()

    def run_end(self, status: str, **fields: Any) -> None:
        self._json("run_end", status=status, **fields)
        if self.mode != "jsonl" and status == "ok":
            self._text(f"alpha written to {fields['alpha_dir']}" if "refine" in self._stages
                       else f"trimaps written to {Path(fields['trimap_pattern']).parent}")

    def progress(self) -> float:
        """Overall fraction done, weighting the stages this run executes."""
        weights = {s: STAGE_WEIGHTS.get(s, 1.0) for s in self._stages}
        total = sum(weights.values()) or 1.0
        done = sum(w * self._done.get(s, 0) / max(self._stages[s], 1) for s, w in weights.items())
        return done / total
