"""The in-process API: `run(config, on_event=..., cancel=...)` for callers that do not want a subprocess (a Dask
worker, a web backend); the CLI is a thin layer over it.

    import threading, videomatte_hq
    from videomatte_hq.config import build_config

    cancel = threading.Event()
    report = videomatte_hq.run(build_config("shot.yaml"), on_event=print, cancel=cancel)
    report.status, report.frames_written, report.outputs["alpha_pattern"]

Errors are raised as `VideomatteError` (message + hint) after the `error` event is emitted and the report is
finalised as `failed`; a set `cancel` event (checked between frames), SIGTERM or Ctrl-C raise `Cancelled`
(a KeyboardInterrupt) with the report `cancelled`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import cv2

from .config import Config
from .errors import OutputError, VideomatteError
from .events import Events
from .fileio import write_json
from .pipeline import execute
from .plan import prepare
from .report import ReportWriter, RunReport


def run(config: Config, on_event: Callable[[dict[str, Any]], None] | None = None,
        cancel: threading.Event | None = None, events: Events | None = None) -> RunReport:
    """Run the configured stages; returns the final report (also written to run_summary*.json).
    `events` lets the CLI bring its terminal sinks; `on_event` is added to them."""
    events = events or Events()
    if on_event is not None:
        events.sinks.append(on_event)
    cv2.setNumThreads(config.runtime.cpu_threads)
    writer = None
    started = time.perf_counter()
    try:
        plan = prepare(config, events)
        try:
            config_used, summary = plan.layout.reports(config.runtime.stage, *plan.requested)
            write_json(config_used, config.model_dump(mode="json"))
            writer = ReportWriter(summary, plan.new_report(events.run_id))
            writer.report.warnings = list(events.warnings)  # planning's warnings (e.g. a resized anchor)
            writer.report.stage_seconds["preflight"] = round(time.perf_counter() - started, 3)
            writer.start()
            events.sinks.append(writer)
            events.run_start(len(plan.frames), *plan.span, plan.stages, plan.layout.describe())
            if plan.frames:
                execute(plan, events, cancel)
            nonfinite = plan.source.nonfinite_summary()
            if nonfinite:
                events.warning(nonfinite)
            writer.report.nonfinite_values_clamped = plan.source.nonfinite_values
            writer.close("ok")
        finally:
            plan.lock.release()
    except VideomatteError as exc:
        events.error(exc.message, exc.hint, exc.code)
        _close_failed(writer, "failed", {"message": exc.message, "hint": exc.hint, "code": exc.code})
        raise
    except KeyboardInterrupt:
        events.error("cancelled", "rerun the same command with --resume to continue", "cancelled")
        _close_failed(writer, "cancelled", None)
        raise
    except Exception as exc:  # a bug, not bad input: hosts still get an error event and a finalised report
        message = f"internal error: {type(exc).__name__}: {exc}"
        hint = ("this is a bug in videomatte-hq or a backend: report it with the command and run_summary.json; "
                "--resume keeps the frames already written")
        events.error(message, hint, "internal")
        _close_failed(writer, "failed", {"message": message, "hint": hint, "code": "internal"})
        raise
    report = writer.report
    events.run_end("ok", frames_written=report.frames_written, alpha_dir=str(plan.layout.alpha_dir),
                   alpha_pattern=plan.layout.alpha_pattern, trimap_pattern=plan.layout.trimap_pattern,
                   summary=str(writer.path))
    return report


def _close_failed(writer: ReportWriter | None, status: str, error: dict[str, str] | None) -> None:
    """Finalise the report of a run that did not finish; a disk that refuses even that is already the
    error being reported."""
    if writer is None or writer.report.finished is not None:
        return
    try:
        writer.close(status, error)
    except OutputError:
        pass
