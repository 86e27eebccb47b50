"""`--executor dask`: the farm split (Segment once, then Refine chunks) as Dask tasks on an existing cluster, or
on a LocalCluster when no scheduler is given. Each step runs the in-process API on a worker with --resume, so a
retried step, or one moved off a worker that died, keeps the frames it had written; progress is read from the
shared output folder (every step writes there) into the usual events and bar."""

from __future__ import annotations

import json
import time
from typing import Any

from ..api import run
from ..config import Config, RuntimeConfig
from ..errors import Cancelled, VideomatteError
from ..events import Events
from ..io.source import open_source
from ..layout import OutputLayout
from ..plan import refuse_existing
from .bundle import chunks
from .finalize import finalize

POLL = 0.25  # s between looks at the output folder


def run_step(settings: dict[str, Any], stage: str, first: int, last: int) -> dict[str, Any]:
    """One farm step on a worker (module level: Dask pickles it by name)."""
    settings = {**settings, "io": {**settings["io"], "frame_start": first, "frame_end": last},
                "runtime": {**settings["runtime"], "stage": stage, "resume": True, "overwrite": False,
                            "progress": "none"}}
    report = run(Config(**settings))
    return {"stage": stage, "frames": [first, last], "status": report.status, "written": report.frames_written}


def _follow(futures: list, frames: list[int], path_of, events: Events, stage: str, cancel) -> None:
    """Emit frame_done as the steps' files land; raise the first failed step's error (after Dask's retry)."""
    waiting = list(frames)
    while True:
        finished = all(f.done() for f in futures)  # read before the files: the last ones are seen too
        landed = {frame for frame in waiting if path_of(frame).is_file()}  # only the frames not seen yet
        for frame in sorted(landed):
            events.frame_done(stage, frame)
        waiting = [frame for frame in waiting if frame not in landed]
        if finished:
            break
        if cancel is not None and cancel.is_set():
            for future in futures:
                future.cancel()
            raise Cancelled()
        time.sleep(POLL)
    for future in futures:
        future.result()  # re-raises the step's VideomatteError


def run_dask(config: Config, scheduler: str | None, chunk_size: int, events: Events, cancel=None) -> dict[str, Any]:
    """Segment, Refine chunks, then finalize (the merged run_summary.json, returned)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise VideomatteError("--executor dask needs Dask (dask[distributed]), which is not installed",
                              hint='pip install -e ".[farm]" (or pip install "dask[distributed]")',
                              code="config") from None

    io, runtime = config.io, config.runtime
    if not io.input or not io.output_dir:
        raise VideomatteError("--executor dask needs --input and --output-dir", code="config",
                              hint="pass both, as for a local run")
    source = open_source(io.input, io.input_colorspace, events.warning, 1, io.ocio_config)
    first, last = source.span(io.frame_start, io.frame_end)
    frames = list(range(first, last + 1))
    layout = OutputLayout.of(io)
    if not (runtime.resume or runtime.overwrite):
        refuse_existing(layout, frames, ["segment", "refine"])
    gpu = runtime.device.startswith("cuda")
    resources = {"GPU": 1} if gpu else None  # a worker offering GPU=1 runs one step at a time on its GPU
    settings = config.model_dump(mode="json")
    cluster = None
    if scheduler is None:
        workers = 1 if gpu else min(RuntimeConfig().cpu_threads, 4)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, resources=resources,
                               dashboard_address=None)
    # The segment step runs alone: all the cores. Refine chunks share the machine when the cluster is local.
    threads = {"segment": runtime.threads,
               "refine": runtime.threads or (max(1, runtime.cpu_threads // workers) if cluster else None)}
    client = Client(scheduler or cluster)
    try:
        events.run_start(len(frames), first, last, ["segment", "refine"], layout.describe())
        options = {"resources": resources, "retries": 1, "pure": False}
        for stage, steps in (("segment", [(first, last)]), ("refine", chunks(first, last, chunk_size))):
            started = time.perf_counter()
            if stage == "refine":  # from where the segment step started (auto-anchor may have moved it)
                start = json.loads(layout.reports("segment", first, last)[1].read_text())["frame_start"]
                frames = [f for f in frames if f >= start]
            events.stage_start(stage, len(frames))
            path_of = layout.trimap_path if stage == "segment" else layout.alpha_path
            stage_settings = {**settings, "runtime": {**settings["runtime"], "threads": threads[stage]}}
            futures = [client.submit(run_step, stage_settings, stage, a, b, **options) for a, b in steps]
            _follow(futures, frames, path_of, events, stage, cancel)
            events.stage_end(stage, time.perf_counter() - started)
        summary = finalize(layout.root, first, last, chunk_size)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    events.run_end("ok", frames_written=summary["frames_written"], alpha_dir=str(layout.alpha_dir),
                   alpha_pattern=layout.alpha_pattern, trimap_pattern=layout.trimap_pattern,
                   summary=str(layout.root / "run_summary.json"))
    return summary
