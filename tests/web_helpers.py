"""Shared by the web UI tests: a generated shot under a root folder, the app over a real SQLite file, and
waiting on a job's state through the API."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from videomatte_hq.synthetic import make_example
from videomatte_hq_web import WebConfig, create_app

TOKEN = "test-token-0123456789"


def make_root(tmp_path: Path, frames: int = 6, width: int = 96, height: int = 64) -> Path:
    root = tmp_path / "root"
    make_example(root / "shot", width, height, frames, 1001, "exr")
    return root


def job_params(root: Path, out: str = "out", **extra) -> dict:
    return {"input": str(root / "shot" / "plate" / "plate.####.exr"), "output_dir": str(root / out),
            "anchor_mask": str(root / "shot" / "anchor.png"), "segment_backend": "flow",
            "refine_backend": "closed_form", **extra}


def client(root: Path, data: Path, **config) -> TestClient:
    """The app (use as a context manager: it starts the job threads); every request carries the token."""
    app = create_app(WebConfig(roots=[root], data_dir=data, token=TOKEN, **config))
    return TestClient(app, headers={"X-VMHQ-Token": TOKEN})


def wait(api: TestClient, job_id: int, done, timeout: float = 120.0, seen: list | None = None) -> dict:
    """Poll the job until `done(job)`; every job state seen is appended to `seen`."""
    end = time.monotonic() + timeout
    while True:
        job = api.get(f"/api/jobs/{job_id}").json()
        if seen is not None:
            seen.append(job)
        if done(job):
            return job
        assert time.monotonic() < end, f"job {job_id} stuck: {job['state']} {job['message']}"
        time.sleep(0.05)


def finished(job: dict) -> bool:
    return job["state"] not in ("queued", "running")
