"""The hosts' protocol client (host_client/videomatte_client) against the real engine CLI."""

from __future__ import annotations

import sys

import pytest

from conftest import ENV, WEIGHT_FREE
from videomatte_client import (EngineCommand, EngineError, MatteJob, RunState, farm_bundle, hashes_to_printf,
                               printf_to_hashes, sequence_path)

ENGINE = [sys.executable, "-m", "videomatte_hq"]


def test_patterns():
    assert hashes_to_printf("/p/plate.####.exr") == "/p/plate.%04d.exr"
    assert printf_to_hashes("/p/plate.%04d.exr") == "/p/plate.####.exr"
    assert printf_to_hashes("/p/plate.%d.exr") == "/p/plate.#.exr"
    assert sequence_path("/o/alpha/######.png", 1001) == "/o/alpha/001001.png"
    assert sequence_path("/p/plate.%04d.exr", 7) == "/p/plate.0007.exr"


def test_command_without_a_range_leaves_it_to_the_engine():
    argv = EngineCommand(ENGINE, "/p/plate.####.exr", "/o", anchor_mask="/r/a.png", resume=True).argv()
    assert "--frame-start" not in argv and "--frame-end" not in argv and argv[-1] == "--resume"
    assert "--video-rotation" not in argv  # the engine's default (auto) unless the host shows clips unturned


def test_farm_bundle_is_the_engines_and_its_errors_are_the_engines(tmp_path, shot_png):
    cmd = EngineCommand(ENGINE, shot_png["input"], str(tmp_path / "out"), 1001, 1006, anchor_mask=shot_png["anchor"],
                        segment_backend="flow", refine_backend="closed_form", overwrite=True)
    path = farm_bundle(cmd, str(tmp_path / "bundle"), 4)
    assert path == str(tmp_path / "bundle" / "template.yaml") and "Refine" in open(path).read()
    with pytest.raises(EngineError) as bad:
        farm_bundle(cmd, str(tmp_path / "bundle2"), 0)
    assert "--chunk-size 0 must be at least 1" in bad.value.message and "--chunk-size 10" in bad.value.hint


def test_run_state_folds_events():
    state = RunState()
    for line in ['{"event": "run_start", "protocol": 2, "run_id": "r1", "frame_start": 1, "frame_end": 2, "frames": 2}',
                 "not json", '{"event": "frame_done", "stage": "segment", "frame": 1, "done": 1, "total": 2, '
                 '"progress": 0.25}', '{"event": "warning", "code": "x", "message": "careful"}']:
        state.feed(line)
    assert (state.progress, state.frame, state.warnings) == (0.25, 1, ["careful"]) and not state.finished
    before = RunState()
    before.feed('{"event": "preflight", "run_id": "r1", "checked": 40, "total": 200, "check": "full"}')
    assert before.message == "checking the plate: 40/200 frames" and before.progress == 0.0
    state.feed('{"event": "error", "code": "range", "message": "bad range", "hint": "fix it"}')
    assert state.finished and str(state.error) == "bad range\nFix: fix it"


def test_job_runs_engine_and_reports_result(tmp_path, shot_png):
    cmd = EngineCommand(ENGINE, shot_png["input"], str(tmp_path / "out"), 1001, 1003,
                        anchor_mask=shot_png["anchor"], extra_args=list(WEIGHT_FREE))
    updates = []
    state = MatteJob(cmd.argv(), env=ENV).start().wait(lambda s: updates.append(s.progress))
    assert state.error is None and state.result["frames_written"] == 3
    assert state.frames_done == {"segment": [1001, 1002, 1003], "refine": [1001, 1002, 1003]}
    assert updates[-1] == 1.0 and updates == sorted(updates), "progress only grows"
    assert state.result["alpha_pattern"] == str(tmp_path / "out" / "alpha" / "######.png")


def test_job_reports_engine_error_with_hint(tmp_path, shot_png):
    cmd = EngineCommand(ENGINE, shot_png["input"], str(tmp_path / "out"), 1001, 1009,
                        anchor_mask=shot_png["anchor"], extra_args=list(WEIGHT_FREE))
    job = MatteJob(cmd.argv(), env=ENV).start()
    job.wait()
    assert job.returncode == 2 and "missing frames 1007-1009" in job.state.error.message
    assert job.state.error.hint and job.state.error.returncode == 2


def test_job_cancel_then_resume(tmp_path, shot_exr):
    cmd = EngineCommand(ENGINE, shot_exr["input"], str(tmp_path / "out"), 1001, 1012,
                        anchor_mask=shot_exr["anchor"], extra_args=list(WEIGHT_FREE))
    job = MatteJob(cmd.argv(), env=ENV).start()
    job.wait(until=lambda state: state.frames_done.get("refine"))
    job.cancel()
    job.wait()
    if job.returncode == 0:  # the run ended before the cancel reached it: nothing to cancel, nothing to resume
        assert job.state.error is None and job.state.result["status"] == "ok"
        return
    assert job.cancelled and job.returncode == 130 and job.state.error.code == "cancelled"
    cmd.resume = True
    state = MatteJob(cmd.argv(), env=ENV).start().wait()
    assert state.error is None and (tmp_path / "out" / "alpha" / "001012.png").is_file()


def test_launch_failure_names_the_executable(tmp_path):
    from videomatte_client import EngineError

    with pytest.raises(EngineError, match="cannot start the engine '/nonexistent/videomatte-hq'"):
        MatteJob(["/nonexistent/videomatte-hq", "--help"]).start()


def test_clean_env_drops_host_python(monkeypatch):
    from videomatte_client import clean_env

    monkeypatch.setenv("PYTHONHOME", "/host/python")
    monkeypatch.setenv("PYTHONPATH", "/host/lib")
    env = clean_env({"X": "1"})
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env and env["X"] == "1"
