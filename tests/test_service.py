"""The engine as a service: live status on disk, run ids, the in-process API and cancel token, the output
folder lock, file permissions, and write errors on real full and read-only filesystems."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import ENV, WEIGHT_FREE, register_tracker, run_api, run_cli
from videomatte_hq import report as report_module
from videomatte_hq.errors import Cancelled, VideomatteError
from videomatte_hq.layout import HASH_ATTR, OutputLayout
from videomatte_hq.io.images import read_attribute, read_image


def _status(out: Path) -> list[dict]:
    proc = run_cli("status", out, "--json", check=True)
    return json.loads(proc.stdout)


def _start(shot, out: Path, *extra: str) -> subprocess.Popen:
    args = [*WEIGHT_FREE, "-i", shot["input"], "--anchor-mask", shot["anchor"], "-o", str(out), "--progress", "jsonl",
            "--tile-size", "64", "--tile-overlap", "16", *extra]
    return subprocess.Popen([sys.executable, "-m", "videomatte_hq", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _wait_for(proc: subprocess.Popen, stage: str, count: int) -> str:
    """Read the run's events until `count` frames of `stage` are done; returns its run id."""
    seen = 0
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "frame_done" and event["stage"] == stage:
            seen += 1
            if seen == count:
                return event["run_id"]
    raise AssertionError(f"run ended before {count} {stage} frames: {proc.stderr.read()}")


def _temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if not p.name.startswith(".videomatte-hq.")]


def test_status_file_while_running_then_ok(tmp_path, shot_exr, monkeypatch):
    monkeypatch.setattr(report_module, "WRITE_INTERVAL", 0.0)  # every frame reaches the file: the test can see it
    out, seen, run_ids = tmp_path / "out", [], set()

    def on_event(event: dict) -> None:
        run_ids.add(event["run_id"])
        if event["event"] == "frame_done":
            data = json.loads((out / "run_summary.json").read_text())
            seen.append((data["status"], data["run_id"], data["pid"], data["progress"]["refine"]["done"]))

    report = run_api(shot_exr, out, on_event=on_event)
    assert len(run_ids) == 1 and report.run_id in run_ids and report.status == "ok"
    assert {s[:3] for s in seen} == {("running", report.run_id, os.getpid())}
    refine_done = [s[3] for s in seen]  # the status file follows the run: refine frames done, never going back
    assert refine_done == sorted(refine_done) and refine_done[-1] >= 10 and refine_done[0] <= 1
    (final,) = _status(out)
    assert final["state"] == "ok" and final["run_id"] == report.run_id and final["frames_written"] == 12
    assert final["progress"]["refine"] == {"frames": 12, "done": 12, "resumed": 0}
    assert final["outputs"]["alpha_pattern"] == str(out / "alpha" / "######.png")


@pytest.mark.parametrize("preflight", ["full", "headers"])
def test_preflight_progress_comes_before_run_start(tmp_path, shot_exr, monkeypatch, preflight):
    """The plate check before run_start is followed (a long shot on slow storage): every frame's count in order
    where the interval allows, always the first and the last."""
    from videomatte_hq import events as events_module

    monkeypatch.setattr(events_module, "PREFLIGHT_EVERY", 0.0 if preflight == "full" else 3600.0)
    seen = []
    run_api(shot_exr, tmp_path / "out", on_event=seen.append, preflight=preflight)
    names = [e["event"] for e in seen]
    checks = [e for e in seen if e["event"] == "preflight"]
    assert names.index("run_start") == len(checks) and names[:len(checks)] == ["preflight"] * len(checks)
    expected = list(range(13)) if preflight == "full" else [0, 12]
    assert [e["checked"] for e in checks] == expected and {e["total"] for e in checks} == {12}
    assert {e["check"] for e in checks} == {preflight}


def test_status_after_a_failure_has_the_error_and_its_fix(tmp_path, shot_png):
    out = tmp_path / "out"
    run_api(shot_png, out, stage="segment")
    layout = OutputLayout(out, "png16")
    for frame in range(1001, 1007):  # binary trimaps: nothing for stage 2 to refine
        seg_hash = read_attribute(layout.trimap_path(frame), HASH_ATTR)
        layout.write_trimap(frame, np.where(layout.read_trimap(frame) >= 128, 255, 0).astype(np.uint8), seg_hash)
    events = []
    with pytest.raises(VideomatteError, match="did not execute on any tiles"):
        run_api(shot_png, out, on_event=events.append, stage="refine")
    assert events[-1]["event"] == "error" and events[-1]["code"] == "empty_band"
    statuses = {Path(r["file"]).name: r for r in _status(out)}
    failed = statuses["run_summary.refine.1001-1006.json"]
    assert failed["state"] == "failed" and failed["run_id"] == events[-1]["run_id"]
    assert "did not execute" in failed["error"]["message"] and "--trimap-band" in failed["error"]["hint"]
    assert statuses["run_summary.segment.json"]["state"] == "ok"
    text = run_cli("status", out, check=True).stdout
    assert "failed" in text and "fix: widen the band" in text


class _FailingTracker:
    subject_lost = False

    def start(self, image, mask):
        return mask.astype(np.float32)

    reanchor = start

    def step(self, image):
        raise RuntimeError("tracker fell over")



def test_a_bug_still_gives_hosts_an_error_event_and_a_failed_report(tmp_path, shot_png):
    """Not bad input but a bug (here a backend's): the exception propagates, and hosts still see an `error`
    event with what happened and what to do, and a finalised report."""
    register_tracker("failing", _FailingTracker)
    events = []
    with pytest.raises(RuntimeError, match="tracker fell over"):
        run_api(shot_png, tmp_path / "out", on_event=events.append, segment_backend="failing")
    error = events[-1]
    assert error["event"] == "error" and error["code"] == "internal"
    assert error["message"] == "internal error: RuntimeError: tracker fell over" and "report it" in error["hint"]
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]["code"] == "internal"
    assert summary["run_id"] == error["run_id"]


def test_status_after_kill_9_is_interrupted(tmp_path, shot_exr):
    out = tmp_path / "out"
    proc = _start(shot_exr, out)
    run_id = _wait_for(proc, "refine", 2)
    proc.kill()
    proc.wait()
    (status,) = _status(out)
    assert status["state"] == "interrupted" and status["status"] == "running" and status["run_id"] == run_id
    progress = status["progress"]  # as last written (every WRITE_INTERVAL): never refined ahead of the trimaps
    assert status["pid"] == proc.pid and progress["segment"]["done"] >= progress["refine"]["done"]
    assert "interrupted" in run_cli("status", out, check=True).stdout


def test_second_run_into_a_live_folder_fails_then_resume_after_kill(tmp_path, shot_exr):
    out = tmp_path / "out"
    first = _start(shot_exr, out)
    run_id = _wait_for(first, "segment", 1)
    first.send_signal(signal.SIGSTOP)  # holds its lock, deterministically still "running"
    try:
        second = run_cli(*WEIGHT_FREE, "-i", shot_exr["input"], "--anchor-mask", shot_exr["anchor"], "-o", out,
                         "--resume", "--progress", "none")
        assert second.returncode == 4
        assert f"is in use by another videomatte-hq run: pid {first.pid} on " in second.stderr
        assert run_id in second.stderr and second.stderr.count("error:") == 1
    finally:
        first.kill()
        first.wait()
    report = run_api(shot_exr, out, resume=True, tile_size=64, tile_overlap=16)
    assert report.status == "ok" and len(list((out / "alpha").glob("*.png"))) == 12


def test_in_process_cancel_token_then_resume(tmp_path, shot_exr):
    out, cancel, events = tmp_path / "out", threading.Event(), []

    def on_event(event: dict) -> None:
        events.append(event)
        if event["event"] == "frame_done" and event["stage"] == "refine" and event["done"] == 3:
            cancel.set()  # checked before the next frame: deterministic, no race with the run's end

    with pytest.raises(Cancelled):
        run_api(shot_exr, out, on_event=on_event, cancel=cancel)
    assert events[-1]["event"] == "error" and events[-1]["code"] == "cancelled"
    assert json.loads((out / "run_summary.json").read_text())["status"] == "cancelled"
    kept = len(list((out / "alpha").glob("*.png")))  # the 3 reported, plus writes already in flight (whole)
    assert 3 <= kept < 12 and _temp_files(out) == []
    report = run_api(shot_exr, out, resume=True)
    assert report.status == "ok" and report.frames_written == 12 - kept and report.progress["refine"].resumed == kept


def test_outputs_are_readable_by_others_under_umask_022(tmp_path, shot_png):
    old = os.umask(0o022)
    try:
        run_api(shot_png, tmp_path / "out")
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) >= 14
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o644" for p in files}


def test_python_dash_m_cli_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "videomatte_hq.cli", "--version"], capture_output=True, text=True,
                          env=ENV)
    assert proc.returncode == 0 and proc.stdout.startswith("videomatte-hq ")
    proc = subprocess.run([sys.executable, "-m", "videomatte_hq.cli", "status", "--help"], capture_output=True,
                          text=True, env=ENV)
    assert proc.returncode == 0 and "interrupted" in proc.stdout


# --- real full and read-only filesystems (tmpfs mounted by the test: needs root, as in CI) -------------------

@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def mount(size_kib: int) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _one_line_error(proc: subprocess.CompletedProcess, code: int, text: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert lines[0].startswith("error: ") and text in lines[0], proc.stderr
    assert all(line.startswith("  fix: ") or line.startswith("       ") for line in lines[1:]), proc.stderr
    assert "Traceback" not in proc.stderr and "--resume" in proc.stderr


def test_disk_full_mid_run_then_resume(tmpfs, shot_exr):
    root = tmpfs(1024)
    out = root / "out"
    filler = root / "filler"
    args = [*WEIGHT_FREE, "-i", shot_exr["input"], "--anchor-mask", shot_exr["anchor"], "-o", out,
            "--progress", "none"]
    free = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    filler.write_bytes(b"\0" * (free - 48 * 1024))  # room for about half the run's files
    proc = run_cli(*args)
    _one_line_error(proc, 4, "no space left on the device")
    written = sorted((out / "alpha").glob("*.png")) + sorted((out / "qc").glob("*.png"))
    assert 0 < len(written) < 24 and _temp_files(out) == []
    # Every file there is whole (OpenImageIO had called empty files written) and carries its settings hash.
    assert all(read_image(p)[0].size and read_attribute(p, HASH_ATTR) for p in written)
    filler.unlink()
    run_cli(*args, "--resume", check=True)
    assert len(list((out / "alpha").glob("*.png"))) == 12
    assert json.loads((out / "run_summary.json").read_text())["status"] == "ok"


def test_read_only_filesystem_is_a_clear_error_then_resume(tmpfs, shot_exr):
    root = tmpfs(4096)
    out = root / "out"
    args = [*WEIGHT_FREE, "-i", shot_exr["input"], "--anchor-mask", shot_exr["anchor"], "-o", out,
            "--progress", "none"]
    run_cli(*args, "--frame-end", 1006, check=True)
    before = {p: p.read_bytes() for p in (out / "alpha").iterdir()}
    subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
    proc = run_cli(*args, "--resume")
    _one_line_error(proc, 4, "read-only")
    assert {p: p.read_bytes() for p in (out / "alpha").iterdir()} == before
    subprocess.run(["mount", "-o", "remount,rw", str(root)], check=True)
    run_cli(*args, "--resume", check=True)
    assert len(list((out / "alpha").glob("*.png"))) == 12 and _temp_files(out) == []


def test_sha256_of_large_files_is_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    from videomatte_hq import fileio

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fileio, "PERSIST_SHA_FROM", 10)
    monkeypatch.setattr(fileio, "_SHA256", {})
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights" * 100)
    first = fileio.file_sha256(model)
    cache = json.loads((tmp_path / "cache" / "videomatte-hq" / "sha256.json").read_text())
    assert list(cache.values()) == [first] and str(model) in next(iter(cache))
    monkeypatch.setattr(fileio, "_SHA256", {})  # a new process: the disk cache answers
    cache[next(iter(cache))] = "from-cache"
    (tmp_path / "cache" / "videomatte-hq" / "sha256.json").write_text(json.dumps(cache))
    assert fileio.file_sha256(model) == "from-cache"
    model.write_bytes(b"other weights" * 100)  # another size and mtime: hashed again
    assert fileio.file_sha256(model) not in (first, "from-cache")


def test_stale_temp_files_of_the_given_frames_only_are_removed(tmp_path):
    """atomic_write's temp names, for dotted stems too; a temp file of a frame not given (another farm chunk's,
    maybe being written now) and other hidden files stay."""
    import tempfile

    from videomatte_hq.fileio import remove_stale_temps

    for stem in ("001005", "shotA_matte.1006"):
        (tmp_path / f"{stem}.png").write_bytes(b"done")
        tempfile.mkstemp(prefix=f".{stem}.", suffix=".png", dir=tmp_path)
    other = Path(tempfile.mkstemp(prefix=".001007.", suffix=".png", dir=tmp_path)[1])
    (tmp_path / ".videomatte-hq.lock").write_text("")
    assert remove_stale_temps([tmp_path / "001005.png", tmp_path / "shotA_matte.1006.png"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [other.name, ".videomatte-hq.lock", "001005.png", "shotA_matte.1006.png"])
