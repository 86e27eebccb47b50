"""One engine run as a subprocess, its stdout read on a thread into a queue, drained on the host's main thread.

Hosts call `poll()` from their UI timer (Blender modal operator, Nuke worker loop) or `wait()` headless;
`cancel()` sends SIGTERM (Ctrl-Break on Windows; the engine removes temp files, its outputs stay resumable), then
kills after 5 s.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading

from .events import EngineError, RunState

# On Windows the engine gets a process group of its own, so a Ctrl-Break can reach it alone (see cancel()).
CANCELLABLE = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {}
# The host's own Python must not leak into the engine's interpreter.
HOST_PYTHON_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONUSERBASE")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HOST_PYTHON_VARS}
    env.update(extra or {})
    return env


class MatteJob:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                 on_line=None) -> None:
        """`on_line(stream, line)` is called on the reader threads with each stdout/stderr line (a job log)."""
        self.argv = list(argv)
        self.on_line = on_line
        self.env = clean_env(env)
        self.cwd = cwd
        self.state = RunState()
        self.returncode: int | None = None
        self.cancelled = False
        self._queue: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        self._eof = [threading.Event(), threading.Event()]  # stdout, stderr read to the end
        self._proc: subprocess.Popen | None = None

    def start(self) -> MatteJob:
        try:
            self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          env=self.env, cwd=self.cwd, bufsize=1, **CANCELLABLE)
        except OSError as exc:
            raise EngineError(f"cannot start the engine {self.argv[0]!r}: {exc.strerror}",
                              "set the engine executable in the add-on/plugin settings (videomatte-hq, or a "
                              "Python with the package installed)", "launch") from exc
        for name, stream, sink, eof in (("stdout", self._proc.stdout, self._queue.put, self._eof[0]),
                                        ("stderr", self._proc.stderr, self._stderr.append, self._eof[1])):
            threading.Thread(target=self._read, args=(name, stream, sink, eof), daemon=True).start()
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _read(self, name: str, stream, sink, eof: threading.Event) -> None:
        for line in stream:
            if self.on_line is not None:
                self.on_line(name, line)
            sink(line)
        eof.set()

    def _drain(self, block: float = 0.0) -> None:
        """Apply the queued lines; with `block`, first wait up to that long for one (no busy waiting)."""
        try:
            self.state.feed(self._queue.get(timeout=block) if block else self._queue.get_nowait())
        except queue.Empty:
            return
        while True:
            try:
                self.state.feed(self._queue.get_nowait())
            except queue.Empty:
                return

    def poll(self, block: float = 0.0) -> RunState:
        """Apply the events read so far (waiting up to `block` s for the next); sets `returncode` once the
        process has ended and all its output is read."""
        self._drain(block)
        if self.running and self._proc.poll() is not None and all(e.is_set() for e in self._eof):
            self._drain()
            self.returncode = self._proc.returncode
            self._finish()
        return self.state

    def _finish(self) -> None:
        if self.cancelled and self.returncode != 0:  # (a run that ended before the cancel reached it is done)
            # the engine's own hint names --resume; in a host that is the Resume button
            self.state.error = EngineError("cancelled", "press Resume to continue (frames written so far are kept)",
                                           "cancelled")
        elif self.returncode != 0 and self.state.error is None:
            self.state.error = EngineError(f"engine exited with code {self.returncode}",
                                           "".join(self._stderr[-20:]).strip(), "exit")
        if self.state.error is not None:
            self.state.error.returncode = self.returncode

    @property
    def running(self) -> bool:
        return self._proc is not None and self.returncode is None

    def wait(self, on_update=None, until=None, interval: float = 0.1) -> RunState:
        """Block until done (headless hosts, farm), or until `until(state)` is true; `on_update(state)` after
        each batch of events. Sleeps on the event queue, not in a polling loop."""
        while True:
            self.poll(block=interval)
            if on_update:
                on_update(self.state)
            if self.returncode is not None or (until is not None and until(self.state)):
                return self.state

    def cancel(self, grace: float = 5.0) -> None:
        """Ask the engine to stop (it removes its temp files, finalises its report and leaves resumable
        outputs), then kill it after `grace` s."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self.cancelled = True
        # Windows has no SIGTERM (terminate() kills at once): Ctrl-Break to the engine's own process group,
        # which the engine handles like SIGTERM.
        self._proc.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGTERM)
        try:
            self._proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._proc.kill()
