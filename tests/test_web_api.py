"""The web UI's API over a real SQLite file and real engine runs (weight-free backends) on generated shots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import httpx2
import numpy as np
import pytest

from conftest import ENV
from web_helpers import TOKEN, client, finished, job_params, make_root, wait
from videomatte_hq_web import jobs as jobs_module
from videomatte_hq_web.previews import PreviewCache


def _image(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)


def test_submit_progress_done_and_qc_previews(tmp_path, monkeypatch):
    # Every event reaches the store (not one per SAVE_INTERVAL): a run's frames can all finish within one.
    monkeypatch.setattr(jobs_module, "SAVE_INTERVAL", 0.0)
    root = make_root(tmp_path, frames=8)
    with client(root, tmp_path / "data") as api:
        job = api.post("/api/jobs", json=job_params(root)).json()
        assert job["state"] == "queued" and isinstance(job["argv"], list)
        seen: list[dict] = []
        job = wait(api, job["id"], finished, seen=seen)
        assert job["state"] == "done", job
        assert job["done"] == job["total"] == 8 and job["progress"] == 1.0 and len(job["run_ids"]) == 1
        partial = [j["progress"] for j in seen if j["state"] == "running" and 0 < j["progress"] < 1]
        assert partial == sorted(partial) and partial, "progress was never seen between 0 and 1"
        frames = api.get(f"/api/jobs/{job['id']}/frames").json()
        assert frames["alpha"] == frames["trimap"] == list(range(1001, 1009))
        for kind, channels in (("plate", 3), ("alpha", None), ("trimap", None), ("checker", 3), ("color", 3)):
            image = _image(api.get(f"/api/jobs/{job['id']}/preview/{kind}/1004", params={"width": 48}))
            assert image.shape[:2] == (32, 48) and (image.ndim == 3) == (channels == 3), kind
        trimap = _image(api.get(f"/api/jobs/{job['id']}/preview/trimap/1004", params={"width": 96}))
        assert set(np.unique(trimap)) <= {0, 128, 255} and (trimap == 128).any()  # grey = the unknown band
        over = _image(api.get(f"/api/jobs/{job['id']}/preview/color/1004", params={"width": 96, "color": "00ff00"}))
        alpha = _image(api.get(f"/api/jobs/{job['id']}/preview/alpha/1004", params={"width": 96}))
        backdrop = over[alpha == 0].mean(axis=0)  # BGR: the green backdrop (JPEG: within a few levels)
        assert np.abs(backdrop - [0, 255, 0]).max() < 6
        assert api.get(f"/api/jobs/{job['id']}/preview/alpha/2000").status_code == 404
        assert '"event": "run_end"' in api.get(f"/api/jobs/{job['id']}/log").json()["log"]


def test_invalid_settings_refused_with_the_engines_message(tmp_path):
    root = make_root(tmp_path, frames=2)
    with client(root, tmp_path / "data") as api:
        bad = api.post("/api/jobs", json=job_params(root, trimap_fg_threshold=0.02, trimap_bg_threshold=0.5))
        assert bad.status_code == 422
        assert "must be below trimap_fg_threshold" in bad.json()["message"] and bad.json()["hint"]
        bad = api.post("/api/validate", json=job_params(root, alpha_format="tiff"))
        assert bad.status_code == 422 and "invalid value for 'alpha_format'" in bad.json()["message"]
        bad = api.post("/api/jobs", json=job_params(root, anchor_mask=None))
        assert bad.status_code == 422 and "Auto-anchor" in bad.json()["hint"]
        assert api.get("/api/jobs").json() == []  # nothing refused was queued
        ok = api.post("/api/validate", json=job_params(root, frame_start=1001, frame_end=1002)).json()
        assert ok["argv"][ok["argv"].index("--frame-end") + 1] == "1002"
        layered = api.post("/api/validate", json=job_params(root, foreground=True, matte_exr=True)).json()
        assert {"--foreground", "--matte-exr"} <= set(layered["argv"]) and "--foreground" not in ok["argv"]
        assert layered["layout"]["matte_pattern"].endswith("######.exr") and ok["layout"]["matte_pattern"] is None


def test_failed_job_shows_error_and_fix(tmp_path):
    root = make_root(tmp_path, frames=2)
    cv2.imwrite(str(root / "white.png"), np.full((64, 96), 255, np.uint8))
    with client(root, tmp_path / "data") as api:
        job = api.post("/api/jobs", json=job_params(root, anchor_mask=str(root / "white.png"))).json()
        job = wait(api, job["id"], finished)
        assert job["state"] == "failed"
        assert "covers the whole frame" in job["error"]["message"] and "inverted" in job["error"]["hint"]


def test_cancel_then_resume_keeps_frames(tmp_path):
    root = make_root(tmp_path, frames=200, width=192, height=128)  # 40 frames take under a second: a cancel may miss
    with client(root, tmp_path / "data") as api:
        job = api.post("/api/jobs", json=job_params(root)).json()
        wait(api, job["id"], lambda j: j["done"] >= 1 or finished(j))
        api.post(f"/api/jobs/{job['id']}/cancel")
        job = wait(api, job["id"], finished)
        assert job["state"] == "cancelled" and "Resume" in job["error"]["hint"]
        assert api.post(f"/api/jobs/{job['id']}/cancel").status_code == 409
        summary = json.loads(Path(job["layout"]["run_summary"]).read_text())
        assert summary["status"] == "cancelled"
        kept = summary["progress"]["segment"]["done"]
        resumed = api.post(f"/api/jobs/{job['id']}/resume").json()
        assert resumed["state"] in ("queued", "running") and "--resume" in resumed["argv"]
        job = wait(api, job["id"], finished)
        assert job["state"] == "done" and job["attempts"] == 2 and len(job["run_ids"]) == 2
        summary = json.loads(Path(job["layout"]["run_summary"]).read_text())
        assert summary["progress"]["segment"]["resumed"] >= kept > 0  # (a file may land after its event)
        assert api.post(f"/api/jobs/{job['id']}/resume").status_code == 409  # a done job does not resume


def test_restart_keeps_history_and_marks_a_killed_job_interrupted(tmp_path):
    """The real server process (and its engine) killed -9 mid-run; a new server over the same SQLite file
    shows the job as interrupted (from the run's report) and resumes it."""
    # The report on disk is rewritten at most once a second while frames complete, and the kill must land after a
    # write that counts a frame: 200 frames (about 4 s on a 2-core box; 40 could finish within that second).
    root = make_root(tmp_path, frames=200, width=192, height=128)
    data = tmp_path / "data"
    server = subprocess.Popen([sys.executable, "-m", "videomatte_hq_web", "--root", str(root), "--port", "0",
                               "--data-dir", str(data)], stdout=subprocess.PIPE, text=True, env=ENV,
                              start_new_session=True)
    try:
        url = server.stdout.readline().split()[-1]
        base, token = url.split("/?token=")
        remote = httpx2.Client(base_url=base, headers={"X-VMHQ-Token": token}, timeout=30)
        job = remote.post("/api/jobs", json=job_params(root)).json()
        summary = Path(job["layout"]["run_summary"])
        wait(remote, job["id"], lambda j: finished(j) or (summary.is_file() and json.loads(
            summary.read_text())["progress"]["segment"]["done"] >= 1))  # a frame the report on disk counts
        assert remote.get(f"/api/jobs/{job['id']}").json()["state"] == "running"
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and the engine it started
        server.wait()
    with client(root, data) as api:
        jobs = api.get("/api/jobs").json()
        assert [j["id"] for j in jobs] == [job["id"]]
        report = json.loads(summary.read_text())["progress"]
        assert jobs[0]["state"] == "interrupted" and jobs[0]["done"] == report[jobs[0]["stage"]]["done"]
        assert 0 < jobs[0]["progress"] < 1
        api.post(f"/api/jobs/{job['id']}/resume")
        assert wait(api, job["id"], finished)["state"] == "done"
    with client(root, data) as api:  # a clean restart keeps the finished history as it was
        assert api.get(f"/api/jobs/{job['id']}").json()["state"] == "done"


def test_token_paths_and_argv_are_guarded(tmp_path):
    root = make_root(tmp_path, frames=2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    (root / "escape").symlink_to(outside)
    with client(root, tmp_path / "data", allowed_hosts={"testserver"}) as api:
        plain = httpx2.Client(transport=api._transport, base_url="http://testserver")
        assert plain.get("/api/jobs").status_code == 401
        assert plain.get("/api/jobs", headers={"X-VMHQ-Token": "wrong"}).status_code == 401
        assert plain.get("/api/jobs", params={"token": TOKEN}).status_code == 200
        assert plain.get("/", headers={"Host": "evil.example:80"}).status_code == 403  # DNS rebinding
        assert api.get("/api/browse", params={"path": str(root / "shot" / ".." / "..")}).status_code == 403
        assert api.get("/api/browse", params={"path": str(outside)}).status_code == 403
        assert api.get("/api/browse", params={"path": str(root / "escape")}).status_code == 403
        assert "escape" not in [e["name"] for e in api.get("/api/browse", params={"path": str(root)}).json()["entries"]]
        listing = api.get("/api/browse", params={"path": str(root / "shot" / "plate")}).json()
        assert listing["entries"] == [{"name": "plate.####.exr", "path": str(root / "shot" / "plate" / "plate.####.exr"),
                                       "kind": "sequence", "frames": [1001, 1002], "count": 2}]
        refused = api.post("/api/jobs", json=job_params(root, anchor_mask=str(root / "escape" / "secret.png")))
        assert refused.status_code == 403 and "outside the folders" in refused.json()["message"]
        assert api.post("/api/jobs", json=job_params(root, out="../out")).status_code == 403
        # A name a shell would run: passed as one argv element, never through a shell.
        job = api.post("/api/jobs", json=job_params(root, out="o; touch pwned $(touch pwned2)")).json()
        assert wait(api, job["id"], finished)["state"] == "done"
        assert (root / "o; touch pwned $(touch pwned2)" / "alpha").is_dir()
        assert not list(tmp_path.rglob("pwned*")) and not list(Path.cwd().glob("pwned*"))


def test_settings_persist_and_models_say_how_to_install(tmp_path):
    root = make_root(tmp_path, frames=2)
    with client(root, tmp_path / "data") as api:
        bad = api.put("/api/settings", json={"device": "auto", "precision": "fp64"})
        assert bad.status_code == 422 and "precision" in bad.json()["message"]
        assert api.put("/api/settings", json={"device": "cpu", "precision": "fp32",
                                              "output_root": str(root / "renders")}).status_code == 200
        models = {m["name"]: m for m in api.get("/api/models").json()}
        assert set(models) >= {"mematte", "sam2_l"}
        missing = [m for m in models.values() if not m["present"]]
        assert all("videomatte-hq models install " + m["name"] + " --from FILE" in m["install"] for m in missing)
    with client(root, tmp_path / "data") as api:
        assert api.get("/api/settings").json() == {"device": "cpu", "precision": "fp32",
                                                   "output_root": str(root / "renders")}
        assert api.get("/api/info").json()["settings"]["device"] == "cpu"


def test_preview_cache_stays_within_its_bound(tmp_path):
    root = make_root(tmp_path, frames=6)
    bound = 16_000
    with client(root, tmp_path / "data", preview_cache_bytes=bound) as api:
        job = wait(api, api.post("/api/jobs", json=job_params(root)).json()["id"], finished)
        cache = api.app.state.previews.cache
        served = 0
        for width in (32, 64, 96):
            for frame in range(1001, 1007):
                for kind in ("plate", "alpha", "trimap", "checker", "color"):
                    served += len(api.get(f"/api/jobs/{job['id']}/preview/{kind}/{frame}",
                                          params={"width": width}).content)
                    assert cache.size <= bound
        assert served > 3 * bound and 0 < len(cache) and cache.size == sum(map(len, cache._items.values()))
    lru = PreviewCache(10)
    for key in "ab":
        lru.get(key, lambda: b"xxxx")
    assert lru.get("a", lambda: pytest.fail("a cached preview was rendered again")) == b"xxxx"  # a: most recent
    lru.get("c", lambda: b"xxxx")
    assert list(lru._items) == ["a", "c"] and lru.size == 8  # b, the least recently used, was dropped
    assert lru.get("big", lambda: b"y" * 11) == b"y" * 11 and "big" not in lru._items  # larger than the bound


@pytest.mark.parametrize("argv, message", [(["--host", "0.0.0.0"], "--allow-remote"),
                                           (["--host", "192.168.1.4"], "not a loopback address")])
def test_remote_bind_needs_a_flag(argv, message):
    proc = subprocess.run([sys.executable, "-m", "videomatte_hq_web", *argv], capture_output=True, text=True,
                          env=ENV, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
