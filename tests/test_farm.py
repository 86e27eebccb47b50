"""Render farm: the OpenJD bundle run step by step with `openjd run`, `farm finalize`, a killed chunk re-run
alone, auto-anchor no-op chunks, and the Dask executor on a real LocalCluster (one worker killed mid-chunk)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import ENV, WEIGHT_FREE, read_pixels, run_api, run_cli
from videomatte_hq.config import build_config
from videomatte_hq.errors import VideomatteError
from videomatte_hq.events import Events
from videomatte_hq.farm.dask_executor import run_dask
from videomatte_hq.farm.finalize import finalize
from videomatte_hq.synthetic import make_example


@pytest.fixture(scope="module")
def farm_shot(tmp_path_factory) -> dict:
    """9 frames; the one-process reference runs (reuse off and on) computed once."""
    root = tmp_path_factory.mktemp("farm")
    shot = make_example(root / "shot", 128, 80, 9, 1001, "exr")
    for reuse in (False, True):
        run_api(shot, root / f"single_reuse_{reuse}", temporal_reuse=reuse)
    return {**shot, "root": root}


def alphas(out: Path) -> dict[int, np.ndarray]:
    return {int(p.stem): read_pixels(p)[0][..., 0] for p in sorted((out / "alpha").glob("*.png"))}


def bundle(shot: dict, out: Path, bundle_dir: Path, *options: str) -> tuple[Path, dict]:
    proc = run_cli("farm", "openjd", "--bundle-dir", bundle_dir, "--chunk-size", "4", "-i", shot["input"],
                   "--anchor-mask", shot["anchor"], "-o", out, *WEIGHT_FREE, *options, check=True)
    assert "deadline bundle submit" in proc.stdout
    values = yaml.safe_load((bundle_dir / "parameter_values.yaml").read_text())["parameterValues"]
    return bundle_dir / "template.yaml", {v["name"]: v["value"] for v in values}


@pytest.mark.parametrize("reuse", [False, True])
def test_openjd_bundle_runs_every_step_like_one_process(farm_shot, tmp_path, reuse):
    config = tmp_path / "settings.yaml"
    config.write_text(f"temporal_reuse: {str(reuse).lower()}\n")
    out = tmp_path / "out"
    template, values = bundle(farm_shot, out, tmp_path / "bundle", "--config", config)
    spec = yaml.safe_load(template.read_text())
    assert [s["name"] for s in spec["steps"]] == ["Segment", "Refine", "Finalize"]
    assert {p["name"]: p["type"] for p in spec["parameterDefinitions"]}["AnchorMask"] == "PATH"
    refine = spec["steps"][1]["parameterSpace"]["taskParameterDefinitions"]
    assert [(p["name"], p["range"]) for p in refine] == [("ChunkStart", [1001, 1005, 1009]),
                                                          ("ChunkEnd", [1004, 1008, 1009])]
    assert values["OutputDir"] == str(out) and values["PlateName"] == "plate.####.exr"
    check = subprocess.run([Path(sys.executable).parent / "openjd", "check", template], capture_output=True,
                           text=True, env=ENV)
    assert check.returncode == 0, check.stderr
    # Every step and task on this machine, as a farm worker would: the engine from this venv.
    proc = subprocess.run([Path(sys.executable).parent / "openjd", "run", template, "--job-param",
                           json.dumps({**values, "EnginePython": sys.executable})],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Chunks run: 5" in proc.stdout  # Segment, 3 Refine chunks, Finalize
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "ok" and [c["state"] for c in summary["farm"]["chunks"]] == ["ok"] * 3
    ours, single = alphas(out), alphas(farm_shot["root"] / f"single_reuse_{reuse}")
    assert list(ours) == list(single) == list(range(1001, 1010))
    diff = max(float(np.abs(ours[f] - single[f]).max()) for f in ours)
    if not reuse:
        assert diff == 0.0  # bit-identical
    else:  # reuse restarts at each chunk's first frame: the first chunk is identical, the rest close
        assert all(np.array_equal(ours[f], single[f]) for f in range(1001, 1005))
        # Reported in docs/benchmarks.md: where one process reused a tile's earlier alpha (IoU >= 0.98, image
        # change <= 0.004), the chunk's first frame refines it afresh.
        skipped = json.loads((farm_shot["root"] / "single_reuse_True" / "run_summary.json").read_text())["tiles"]
        print(f"temporal reuse on: max |alpha difference| farm vs one process = {diff:.5f} "
              f"(one process reused {skipped['skipped']} tiles)")


def test_killed_chunk_rerun_alone_and_finalize_names_what_is_missing(farm_shot, tmp_path):
    out = tmp_path / "out"
    common = ["-i", farm_shot["input"], "--anchor-mask", farm_shot["anchor"], "-o", out, *WEIGHT_FREE]
    settings = tmp_path / "settings.yaml"
    settings.write_text("temporal_reuse: false\n")
    run_cli(*common, "--config", settings, "--stage", "segment", check=True)
    chunk = subprocess.Popen([sys.executable, "-m", "videomatte_hq", *map(str, common), "--config", str(settings),
                              "--stage", "refine", "--frame-start", "1001", "--frame-end", "1008", "--resume",
                              "--progress", "none"], env=ENV)
    deadline = time.monotonic() + 120
    while not any((out / "alpha").glob("*.png")) and chunk.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    chunk.send_signal(signal.SIGKILL)  # mid-way: some alphas written, its report says running
    chunk.wait()
    with pytest.raises(VideomatteError) as failed:
        finalize(out, chunk_size=8)
    message = failed.value.message
    assert "refine chunk 1009-1009: never ran" in message
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"]["code"] == "farm_incomplete"
    commands = [line.split("rerun it: ", 1)[1] for line in message.split("\n") if "rerun it: " in line]
    assert any("--frame-start 1009 --frame-end 1009" in c for c in commands)
    for command in commands:  # exactly what finalize printed, each run alone
        argv = shlex.split(command)
        assert argv[0] == "videomatte-hq"
        run_cli(*argv[1:], check=True)
    assert finalize(out, chunk_size=8)["status"] == "ok"
    ours, single = alphas(out), alphas(farm_shot["root"] / "single_reuse_False")
    assert all(np.array_equal(ours[f], single[f]) for f in single)


def test_chunks_before_an_auto_anchor_start_finish_as_no_ops(black_opening_clip, tmp_path):
    """Auto-anchor skipped 3 black frames: the refine chunk 0-2 finishes ok with nothing to do."""
    out = tmp_path / "out"
    common = ["-i", black_opening_clip, "-o", out, *WEIGHT_FREE, "--progress", "jsonl"]
    env = {"VIDEOMATTE_HQ_MODEL_DIR": str(tmp_path / "models")}  # no YOLO file: hog_grabcut
    run_cli(*common, "--auto-anchor", "--stage", "segment", env=env, check=True)
    for first, last in ((0, 2), (3, 5), (6, 7)):
        proc = run_cli(*common, "--stage", "refine", "--frame-start", first, "--frame-end", last, "--resume",
                       env=env, check=True)
        if first == 0:
            assert "nothing to refine there" in proc.stdout
    report = json.loads((out / "run_summary.refine.0-2.json").read_text())
    assert report["status"] == "ok" and report["frame_count"] == 0
    summary = finalize(out, chunk_size=3)
    assert (summary["frame_start"], summary["frame_end"], summary["frames_written"]) == (3, 7, 5)


def _dask_config(shot: dict, out: Path, **extra):
    return build_config(None, {"input": shot["input"], "anchor_mask": shot["anchor"], "output_dir": str(out),
                               "segment_backend": "flow", "refine_backend": "closed_form", "progress": "none",
                               "temporal_reuse": False, **extra})


def test_dask_local_cluster_gives_the_one_process_result(farm_shot, tmp_path):
    from dask.distributed import LocalCluster

    out = tmp_path / "out"
    seen: list[dict] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = run_dask(_dask_config(farm_shot, out), cluster.scheduler_address, 3, Events([seen.append]))
    assert summary["status"] == "ok" and len(summary["farm"]["chunks"]) == 3
    done = [e for e in seen if e["event"] == "frame_done"]
    assert sorted(e["frame"] for e in done if e["stage"] == "refine") == list(range(1001, 1010))
    assert done[-1]["progress"] == 1.0 and seen[-1]["event"] == "run_end"
    ours, single = alphas(out), alphas(farm_shot["root"] / "single_reuse_False")
    assert all(np.array_equal(ours[f], single[f]) for f in single)


def test_dask_survives_a_worker_killed_mid_chunk(tmp_path):
    from dask.distributed import Client, LocalCluster

    shot = make_example(tmp_path / "shot", 192, 128, 16, 1001, "exr")
    run_api(shot, tmp_path / "single", temporal_reuse=False)
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result: dict = {}
        runner = threading.Thread(target=lambda: result.update(summary=run_dask(
            _dask_config(shot, out), cluster.scheduler_address, 8, Events())))
        runner.start()
        killed = None
        deadline = time.monotonic() + 300
        while killed is None and runner.is_alive():
            busy = {w: keys for w, keys in client.processing().items() if any("run_step" in str(k) for k in keys)}
            if busy and len(list((out / "alpha").glob("*.png"))) >= 1 and len(busy) == 2:
                worker = next(iter(busy))
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)  # mid-chunk: the nanny restarts it, the scheduler reschedules
                killed = worker
            assert time.monotonic() < deadline
            time.sleep(0.05)
        runner.join(300)
    assert killed is not None, "the run ended before a worker could be killed mid-chunk"
    assert result["summary"]["status"] == "ok"
    ours, single = alphas(out), alphas(tmp_path / "single")
    differ = {f: float(np.abs(ours[f] - single[f]).max()) for f in single if not np.array_equal(ours[f], single[f])}
    assert list(ours) == list(single) and not differ, differ


def test_mattes_do_not_depend_on_what_ran_before_in_the_process(farm_shot, tmp_path):
    """GrabCut's k-means draws from OpenCV's thread RNG: seeded, a farm step or a resumed run in a fresh process
    gives the mattes of one long process."""
    import cv2

    cv2.kmeans(np.random.rand(64, 2).astype(np.float32), 3, None, (cv2.TERM_CRITERIA_MAX_ITER, 3, 0), 1,
               cv2.KMEANS_RANDOM_CENTERS)  # moves the RNG, as any earlier run in this process did
    run_api(farm_shot, tmp_path / "again", temporal_reuse=False)
    ours, single = alphas(tmp_path / "again"), alphas(farm_shot["root"] / "single_reuse_False")
    assert all(np.array_equal(ours[f], single[f]) for f in single)
