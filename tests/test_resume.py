"""A killed run resumes where it stopped and ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import ENV, WEIGHT_FREE, read_pixels, run_api, run_cli


def _args(shot, out: Path, cfg: Path) -> list[str]:
    return [*WEIGHT_FREE, "--input", shot["input"], "--anchor-mask", shot["anchor"], "-o", str(out), "--config", str(cfg),
            "--progress", "jsonl"]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "videomatte_hq", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _wait_for_refined(proc: subprocess.Popen, count: int) -> None:
    seen = 0
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "frame_done" and event["stage"] == "refine":
            seen += 1
            if seen == count:
                return
    raise AssertionError(f"run ended before {count} frames were refined: {proc.stderr.read()}")


def _alphas(out: Path) -> dict[str, np.ndarray]:
    return {p.name: read_pixels(p)[0] for p in sorted((out / "alpha").iterdir())}


def test_kill_and_resume_is_bit_identical(tmp_path, shot_exr):
    cfg = tmp_path / "reuse.yaml"  # small tiles and loose reuse, so resume must restore temporal state
    cfg.write_text("refinement:\n  tile_size: 64\n  tile_overlap: 16\n  skip_iou_threshold: 0.3\n"
                   "  skip_image_delta: 0.2\n")
    full = tmp_path / "full"
    run_cli(*_args(shot_exr, full, cfg), check=True)
    summary = json.loads((full / "run_summary.json").read_text())
    assert summary["tiles"]["skipped"] > 0, "the scenario must exercise temporal reuse"

    killed = tmp_path / "killed"
    proc = _start(_args(shot_exr, killed, cfg))
    _wait_for_refined(proc, 4)
    proc.kill()
    proc.wait()
    written = sorted(p.name for p in (killed / "alpha").iterdir() if not p.name.startswith("."))
    assert 4 <= len(written) < 12, written

    litter = killed / "alpha" / f".{Path(written[0]).stem}.k1lled_0.png"  # what a kill mid-write leaves
    litter.write_bytes(b"\x89PNG partial")
    resumed = run_cli(*_args(shot_exr, killed, cfg), "--resume", check=True)
    assert not [p.name for p in (killed / "alpha").iterdir() if p.name.startswith(".")], "temp files removed"
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    kept = [e["frame"] for e in events if e["event"] == "frame_done" and e["stage"] == "refine" and e.get("resumed")]
    assert len(kept) == len(written)
    summary = json.loads((killed / "run_summary.json").read_text())
    assert summary["frames_written"] == 12 - len(written)

    a, b = _alphas(full), _alphas(killed)
    assert list(a) == list(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_sigterm_cancels_cleanly(tmp_path, shot_exr):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("refinement:\n  tile_size: 64\n  tile_overlap: 16\n")
    out = tmp_path / "out"
    proc = _start(_args(shot_exr, out, cfg))
    _wait_for_refined(proc, 2)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert any(json.loads(line)["event"] == "error" and json.loads(line)["code"] == "cancelled"
               for line in stdout.splitlines())
    assert json.loads((out / "run_summary.json").read_text())["status"] == "cancelled"
    assert not [p for p in (out / "alpha").iterdir() if p.name.startswith(".")], "temp files left behind"
    run_cli(*_args(shot_exr, out, cfg), "--resume", check=True)
    assert len(list((out / "alpha").iterdir())) == 12


def test_resume_after_a_setting_changed_says_what_it_keeps(tmp_path, shot_png):
    out = tmp_path / "out"
    run_api(shot_png, out, frame_end=1004)
    events = []
    report = run_api(shot_png, out, on_event=events.append, resume=True, trimap_band="wider")
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert "--resume: segment keeps 0 of 6 frames; the files of frames 1001-1004 were written with other " \
           "settings or plate files (their settings hash differs) and are recomputed" in warnings
    assert any(w.startswith("--resume: refine keeps 0 of 6 frames") for w in warnings)
    assert report.frames_written == 6
    events.clear()
    report = run_api(shot_png, out, on_event=events.append, resume=True, trimap_band="wider")
    assert report.frames_written == 0 and report.progress["refine"].resumed == 6
    assert not [e for e in events if e["event"] == "warning"]


def test_resume_after_a_plate_frame_changed_recomputes(tmp_path, shot_copy):
    """A plate frame re-rendered under its name (here: rewritten, its modification time moves) is matted again on
    --resume, every frame of it since tracking is sequential; an untouched plate keeps everything."""
    out = tmp_path / "out"
    run_api(shot_copy, out)
    frame = shot_copy["dir"] / "plate.1003.png"
    stat = frame.stat()
    os.utime(frame, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    events = []
    report = run_api(shot_copy, out, on_event=events.append, resume=True)
    assert report.frames_written == 6
    assert any(e["event"] == "warning" and e["code"] == "resume_stale" for e in events)
    assert run_api(shot_copy, out, resume=True).frames_written == 0
