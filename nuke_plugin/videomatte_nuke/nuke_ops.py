"""The thin layer that touches `nuke`: read knobs, render what the engine needs, run it on a worker
thread with a ProgressTask, and point the gizmo's Reads at the result on the main thread."""

from __future__ import annotations

import os
import threading
import time

import nuke

from videomatte_client import EngineError, MatteJob, farm_bundle, sequence_path

from .logic import (NukeColour, PlatePlan, Settings, SetupError, anchor_pattern, engine_command, plate_plan,
                    result_knobs)

KNOBS = ("engine", "output_dir", "anchor_frame", "use_input_range", "first_frame", "last_frame", "band",
         "fg_threshold", "bg_threshold", "device", "precision", "alpha_format", "chunk_size", "segment_backend",
         "refine_backend", "extra_anchor_frames", "foreground", "matte_exr")
SOURCE_KNOBS = ("file", "first", "last", "frame_mode", "frame", "colorspace", "raw")
ROOT_KNOBS = ("colorManagement", "OCIO_config", "customOCIOConfigPath", "workingSpaceLUT")
RESULT_READS = ("AlphaRead", "TrimapRead", "MatteRead")
JOBS: dict[str, MatteJob] = {}  # gizmo name -> running job (for Cancel)


def _render(node_input, pattern: str, first: int, last: int, channels: str) -> None:
    """Render an input to EXR with a temporary root-level Write (deleted again, so farm renders never see it)."""
    os.makedirs(os.path.dirname(pattern), exist_ok=True)
    write = nuke.nodes.Write(file=pattern, file_type="exr", channels=channels)
    write.setInput(0, node_input)
    try:
        nuke.execute(write, first, last)
    finally:
        nuke.delete(write)


def prepare(node, resume: bool = False):
    """Main thread: check the setup, render plate/anchor when needed; returns (command, plate plan)."""
    source, anchor = node.input(0), node.input(1)
    if source is None:
        raise SetupError("connect the plate to the Source input")
    if nuke.root()["proxy"].value():
        raise SetupError("proxy mode is on: Writes would render the plate and anchor at proxy size; turn it off")
    # File knobs hold TCL (the default output folder is an expression): evaluate them.
    values = {k: node[k].evaluate() if k in ("engine", "output_dir") else node[k].value() for k in KNOBS}
    settings = Settings.from_knobs(values,
                                   (int(source.firstFrame()), int(source.lastFrame())), int(nuke.frame()))
    knobs = {k: source[k].value() for k in SOURCE_KNOBS if source.knob(k)}
    root = nuke.root()
    colour = NukeColour.from_root({k: root[k].value() for k in ROOT_KNOBS if root.knob(k)}, dict(os.environ),
                                  os.path.dirname(getattr(nuke, "EXE_PATH", "")))
    plan = plate_plan(source.Class(), knobs, settings.output_dir, proxy=False, colour=colour)
    if plan.render:
        _render(source, plan.pattern, settings.first, settings.last, "rgba")
    anchor_path, extra = None, {}
    if anchor is not None:
        pattern = anchor_pattern(settings.output_dir)
        for frame in (settings.anchor_frame, *settings.extra_anchor_frames):
            _render(anchor, pattern, frame, frame, "alpha")
            extra[frame] = sequence_path(pattern, frame)
        anchor_path = extra.pop(settings.anchor_frame)
    elif settings.extra_anchor_frames:
        raise SetupError("extra anchor frames need the Anchor input: connect the roto")
    return engine_command(settings, plan, anchor_path, resume, extra), plan, settings


def _set_status(node, text: str) -> None:
    node["status"].setValue(text)


def _finish(node, job: MatteJob, plan: PlatePlan) -> None:
    """Main thread: Reads onto the new sequences, or the engine's error (with its fix) in a message."""
    JOBS.pop(node.name(), None)
    state = job.state
    if state.error is not None:
        _set_status(node, f"error: {state.error.message}")
        nuke.message(f"VideomatteHQ: {state.error}")
        return
    for name, value in result_knobs(state.frame_range, plan, state.layout).items():
        node[name].setValue(value)
    for name in RESULT_READS:
        node.node(name)["reload"].execute()
    _set_status(node, f"done: frames {state.frame_range[0]}-{state.frame_range[1]}")


def _work(node, job: MatteJob, plan: PlatePlan) -> None:
    """Worker thread: progress from the engine's events; node changes only via executeInMainThread."""
    task = nuke.ProgressTask("Videomatte HQ")
    while job.returncode is None:
        state = job.poll()
        if task.isCancelled():
            job.cancel()
        task.setProgress(int(state.progress * 100))
        task.setMessage(state.message)
        time.sleep(0.2)
    del task
    nuke.executeInMainThread(_finish, args=(node, job, plan))


def run(node, resume: bool = False) -> threading.Thread | None:
    """The Run Matte / Resume buttons."""
    if node.name() in JOBS:
        nuke.message("VideomatteHQ: this node is already running (Cancel first)")
        return None
    try:
        command, plan, _ = prepare(node, resume)
        job = MatteJob(command.argv()).start()
    except (SetupError, EngineError) as exc:
        _set_status(node, f"error: {exc}")
        nuke.message(f"VideomatteHQ: {exc}")
        return None
    JOBS[node.name()] = job
    _set_status(node, "running")
    thread = threading.Thread(target=_work, args=(node, job, plan), daemon=True)
    thread.start()
    return thread


def cancel(node) -> None:
    """Stop the engine; what it wrote stays, and Resume continues from there."""
    job = JOBS.get(node.name())
    if job is not None:
        job.cancel()


def export_farm(node) -> str | None:
    """Write the shot's OpenJD job bundle (Segment -> Refine chunks -> Finalize) into <out>/farm/openjd, for
    `deadline bundle submit` or OpenCue's OpenJD backend."""
    try:
        command, _, settings = prepare(node)
        path = farm_bundle(command, os.path.join(settings.output_dir, "farm", "openjd"), settings.chunk_size)
    except (SetupError, EngineError) as exc:
        nuke.message(f"VideomatteHQ: {exc}")
        return None
    nuke.message(f"VideomatteHQ: farm job written to {path}\nsubmit: deadline bundle submit {os.path.dirname(path)}")
    return path
