"""Jobs: each one an engine subprocess (a crash of a run never reaches the server), run from a queue by worker
threads, its events folded by the hosts' protocol client and saved to the store as they come."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from videomatte_client import EngineError, MatteJob, RunState
from videomatte_hq.report import read_status

from .store import Store

SAVE_INTERVAL = 0.25  # s between progress writes to the store
RESUMABLE = ("failed", "cancelled", "interrupted")
# run_summary.json's state -> the job's
REPORT_STATES = {"ok": "done", "failed": "failed", "cancelled": "cancelled", "interrupted": "interrupted",
                 "running": "running"}


class JobManager:
    def __init__(self, store: Store, log_dir: Path, workers: int = 1) -> None:
        self.store = store
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.owned: set[int] = set()  # jobs this server's threads have claimed (running or starting)
        self.live: dict[int, MatteJob] = {}  # their engine processes, once started
        self._cancel_asked: set[int] = set()
        self._wake = threading.Condition()
        self._closing = False
        self._recover()
        self._threads = [threading.Thread(target=self._work, name=f"vmhq-web-job-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # --- requests -------------------------------------------------------------------------------------------
    def submit(self, params: dict, argv: list[str], layout: dict) -> int:
        job_id = self.store.add_job(params, argv, layout)
        with self._wake:
            self._wake.notify()
        return job_id

    def get(self, job_id: int) -> dict | None:
        job = self.store.job(job_id)
        if job is not None and job["state"] == "running" and job_id not in self.owned:
            job = self._from_report(job)  # a run a previous server started: its report is the truth
        return job

    def all(self) -> list[dict]:
        return [self.get(job["id"]) if job["state"] == "running" else job for job in self.store.jobs()]

    def cancel(self, job_id: int) -> dict:
        job = self.get(job_id)
        if job["state"] == "queued":
            self.store.update(job_id, state="cancelled", message="cancelled before it started", ended=time.time())
        elif job_id in self.owned:
            self._cancel_asked.add(job_id)
            if job_id in self.live:
                threading.Thread(target=self.live[job_id].cancel, daemon=True).start()  # SIGTERM, kill after 5 s
        elif job["state"] == "running" and job.get("pid"):
            os.kill(job["pid"], signal.SIGTERM)  # a run left by a previous server: the engine handles SIGTERM
        return self.get(job_id)

    def resume(self, job_id: int) -> dict:
        """Queue the same command again with --resume: frames already written are kept."""
        job = self.get(job_id)
        argv = [a for a in job["argv"] if a not in ("--overwrite", "--resume")] + ["--resume"]
        self.store.update(job_id, state="queued", argv=argv, error=None, message="queued (resume)", ended=None)
        with self._wake:
            self._wake.notify()
        return self.get(job_id)

    def log(self, job_id: int, tail: int = 400) -> str:
        path = self._log_path(job_id)
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-tail:]) if path.is_file() else ""

    def close(self) -> None:
        """Stop taking jobs; running engines are cancelled (they leave resumable outputs) and their final
        state saved before the store closes."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        for job_id in list(self.owned):
            self.cancel(job_id)
        for thread in self._threads:
            thread.join(timeout=15)

    # --- running --------------------------------------------------------------------------------------------
    def _log_path(self, job_id: int) -> Path:
        return self.log_dir / f"job-{job_id}.log"

    def _claim(self) -> dict | None:
        with self._wake:
            while not self._closing:
                queued = self.store.jobs(("queued",))
                if queued:
                    job = queued[0]
                    self.owned.add(job["id"])
                    self.store.update(job["id"], state="running", message="starting", started=time.time(),
                                      attempts=job["attempts"] + 1, stage="", done=0, total=0, progress=0.0)
                    return job
                self._wake.wait()
        return None

    def _work(self) -> None:
        while (job := self._claim()) is not None:
            try:
                self._run(job)
            except Exception as exc:  # noqa: BLE001 - a job thread must survive anything and say why
                self.store.update(job["id"], state="failed", ended=time.time(),
                                  error={"message": f"web server error: {exc}", "hint": "see the job log",
                                         "code": "web"})
            finally:
                self.live.pop(job["id"], None)
                self.owned.discard(job["id"])
                self._cancel_asked.discard(job["id"])

    def _run(self, job: dict) -> None:
        job_id = job["id"]
        log_lock = threading.Lock()
        with open(self._log_path(job_id), "a", encoding="utf-8") as log:
            log.write(f"--- attempt {job['attempts'] + 1}: {' '.join(job['argv'])}\n")

            def on_line(stream: str, line: str) -> None:
                with log_lock:
                    log.write(line if stream == "stdout" else f"[stderr] {line}")
                    log.flush()

            engine = MatteJob(job["argv"], on_line=on_line)
            try:
                engine.start()
            except EngineError as exc:
                self.store.update(job_id, state="failed", ended=time.time(), message=exc.message,
                                  error={"message": exc.message, "hint": exc.hint, "code": exc.code})
                return
            self.live[job_id] = engine
            self.store.update(job_id, pid=engine.pid)
            if job_id in self._cancel_asked:  # cancelled while it was starting
                threading.Thread(target=engine.cancel, daemon=True).start()
            last = [0.0]
            run_ids = list(job["run_ids"])  # this job's runs, kept here rather than re-read at each save

            def on_update(state: RunState) -> None:
                if time.monotonic() - last[0] >= SAVE_INTERVAL:
                    self._save(job_id, state, run_ids)
                    last[0] = time.monotonic()

            state = engine.wait(on_update)
        final = "done" if state.error is None else ("cancelled" if state.error.code == "cancelled" else "failed")
        self._save(job_id, state, run_ids, final)

    def _save(self, job_id: int, state: RunState, run_ids: list[str], final: str | None = None) -> None:
        fields: dict = {"stage": state.stage, "progress": state.progress, "message": state.message,
                        "warnings": state.warnings}
        if state.frame_range:
            fields.update(frame_start=state.frame_range[0], frame_end=state.frame_range[1],
                          total=state.frame_range[1] - state.frame_range[0] + 1,
                          done=len(state.frames_done.get(state.stage, [])))
        if state.run_id and state.run_id not in run_ids:
            run_ids.append(state.run_id)
            fields["run_ids"] = list(run_ids)
        if final:
            fields.update(state=final, ended=time.time())
            if state.error is not None:
                fields["error"] = {"message": state.error.message, "hint": state.error.hint,
                                   "code": state.error.code}
        self.store.update(job_id, **fields)

    # --- after a restart ------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Jobs the store says are running belong to a server that died: their run reports say what became
        of them (a killed engine reads as interrupted)."""
        for job in self.store.jobs(("running",)):
            self._from_report(job)

    def _from_report(self, job: dict) -> dict:
        reports = read_status([Path(job["layout"]["run_summary"])])
        if not reports:
            fields = {"state": "interrupted", "message": "the server stopped before the run started"}
        else:
            report = reports[0]
            state = REPORT_STATES.get(report["state"], "interrupted")
            progress = report.get("progress", {})
            stage = next((s for s, p in progress.items() if p["done"] < p["frames"]), next(iter(progress), ""))
            counts = [(p["done"], p["frames"]) for p in progress.values()]
            fields = {"state": state, "stage": stage, "pid": report.get("pid"),
                      "progress": sum(d for d, _ in counts) / max(sum(f for _, f in counts), 1),
                      "done": progress.get(stage, {}).get("done", 0), "total": report.get("frame_count", 0),
                      "frame_start": report.get("frame_start"), "frame_end": report.get("frame_end"),
                      "message": f"{state} (from the run's report)"}
            if report.get("error"):
                fields["error"] = report["error"]
            if state != "running":
                fields["ended"] = report.get("finished") or report.get("heartbeat")
        self.store.update(job["id"], **fields)
        return self.store.job(job["id"])
