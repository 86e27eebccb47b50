"""The engine's JSON-lines progress events (README "Progress protocol") folded into one state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

SUPPORTED_PROTOCOL = 2


class EngineError(Exception):
    """The engine failed; `message` and `hint` are what it reported (the hint is the fix)."""

    def __init__(self, message: str, hint: str = "", code: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.message, self.hint, self.code, self.returncode = message, hint, code, returncode

    def __str__(self) -> str:
        return self.message + (f"\nFix: {self.hint}" if self.hint else "")


@dataclass
class RunState:
    progress: float = 0.0
    stage: str = ""
    frame: int | None = None
    message: str = "waiting"
    warnings: list[str] = field(default_factory=list)
    error: EngineError | None = None
    result: dict | None = None  # the run_end event once the run is done
    frames_done: dict[str, list[int]] = field(default_factory=dict)
    frame_range: tuple[int, int] | None = None  # what the engine processes (auto-anchor may move the start)
    run_id: str = ""
    layout: dict = field(default_factory=dict)  # the engine's output layout (alpha_pattern, trimap_pattern, ...)

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def feed(self, line: str) -> dict | None:
        """Apply one stdout line; returns the event, or None for a line that is not an event."""
        line = line.strip()
        if not line.startswith("{"):
            return None
        try:
            event = json.loads(line)
        except ValueError:
            return None
        kind = event.get("event")
        if kind == "run_start":
            if event.get("protocol") != SUPPORTED_PROTOCOL:
                self.warnings.append(f"engine protocol {event.get('protocol')} (this adapter knows "
                                     f"{SUPPORTED_PROTOCOL})")
            self.frame_range = (event["frame_start"], event["frame_end"])
            self.run_id, self.layout = event.get("run_id", ""), event.get("layout", {})
            self.message = f"frames {event['frame_start']}-{event['frame_end']}"
        elif kind == "preflight":
            self.message = f"checking the plate: {event['checked']}/{event['total']} frames"
        elif kind == "stage_start":
            self.stage = event["stage"]
            self.message = f"{self.stage}: starting"
        elif kind == "frame_done":
            self.stage, self.frame = event["stage"], event["frame"]
            self.progress = float(event.get("progress", self.progress))
            self.frames_done.setdefault(self.stage, []).append(self.frame)
            self.message = f"{self.stage} frame {self.frame} ({event['done']}/{event['total']})"
        elif kind == "warning":
            self.warnings.append(event["message"])
        elif kind == "error":
            self.error = EngineError(event["message"], event.get("hint", ""), event.get("code", ""))
            self.message = f"error: {event['message']}"
        elif kind == "run_end":
            self.result = event
            self.progress = 1.0
            self.message = "done"
        return event
