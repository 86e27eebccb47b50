"""Everything checked before the first frame is written: the source and range, the model files, the output
folder (locked, existing outputs refused), the anchors, and the stage hashes that make resume exact."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import auto_anchor, refine, segment
from .anchor import load_anchor
from .config import Config
from .errors import ModelFileError, VideomatteError, format_frames, frame_range
from .events import Events
from .fileio import file_sha256
from .io.images import read_attribute
from .io.source import FrameSource, open_source
from .layout import HASH_ATTR, OutputLayout
from .lock import FolderLock
from .report import RunReport

STAGE_MODULES = {"segment": segment, "refine": refine}


@dataclass
class RunPlan:
    config: Config
    source: FrameSource
    frames: list[int]
    requested: tuple[int, int]
    anchor_frame: int | None  # None: a refine chunk with no frames to process
    layout: OutputLayout
    stages: list[str]
    models: dict[str, list[dict[str, str]]]  # stage -> [{"path", "sha256"}] of the model files it uses
    lock: FolderLock
    anchors: dict[int, np.ndarray] = field(default_factory=dict)
    anchor_files: dict[int, dict[str, str]] = field(default_factory=dict)
    auto_anchor: auto_anchor.AutoAnchor | None = None
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def span(self) -> tuple[int, int]:
        """First and last frame processed (a refine chunk before the segment step's start has none: its
        requested range)."""
        return (self.frames[0], self.frames[-1]) if self.frames else self.requested

    def new_report(self, run_id: str) -> RunReport:
        layout, auto = self.layout, self.auto_anchor
        return RunReport(
            run_id=run_id, input=self.source.description, input_kind=self.source.kind,
            plate_size=[self.source.width, self.source.height], input_linear=self.source.linear,
            colour=self.source.colour.describe(),
            requested_frame_start=self.requested[0], requested_frame_end=self.requested[1],
            frame_start=self.span[0], frame_end=self.span[1], frame_count=len(self.frames), stages=self.stages,
            anchor={"frame": self.anchor_frame, "path": self.anchor_files.get(self.anchor_frame, {}).get("path"),
                    "files": {str(k): v for k, v in self.anchor_files.items()}},
            auto_anchor=None if auto is None else {
                "method": auto.method, "probe_frame": auto.frame, "box": auto.box, "score": auto.score,
                "mask_from": auto.mask_from,
                "dark_frames_skipped": auto.dark_frames, "path": str(layout.anchor_auto)},
            backends={s: {"name": self.config.backend(s), "model_files": self.models[s]} for s in self.stages},
            config_hash=self.hashes, device=self.config.runtime.device, precision=self.config.runtime.precision,
            outputs=layout.describe())


def _anchor_required(source: FrameSource) -> VideomatteError:
    return VideomatteError(
        "anchor_mask is required for v2 pipeline runs (this tool tracks the subject from a roto of it on one "
        "frame; without one it does not know what to matte)",
        hint="pass --anchor-mask FILE (a white-on-black roto of the subject at --anchor-frame)"
             + ("" if source.kind == "video" else ", or --auto-anchor to detect the person"), code="anchor")


def _wants_auto_anchor(config: Config, source: FrameSource) -> bool:
    """Explicit --auto-anchor, or a video given without an anchor (as the reference tool)."""
    if config.segmentation.auto_anchor and config.io.anchor_mask:
        raise VideomatteError("--auto-anchor and --anchor-mask both given", code="anchor",
                              hint="drop one: the anchor mask, or the automatic person detection")
    return config.segmentation.auto_anchor or (source.kind == "video" and not config.io.anchor_mask)


def prepare(config: Config, events: Events) -> RunPlan:
    """The checked plan; the output folder is locked from here until `plan.lock.release()`. The plate check's
    progress goes out as `preflight` events."""
    io, runtime, warn = config.io, config.runtime, events.warning
    if not io.input:
        raise VideomatteError("no input given", hint="pass --input plate.####.exr (or a video file)", code="input")
    if not io.output_dir:
        raise VideomatteError("no output folder given", hint="pass --output-dir DIR", code="output")
    out = Path(io.output_dir)
    blocking = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise VideomatteError(f"--output-dir {out} cannot be a folder: {blocking} is a file",
                              hint="give a folder (a missing one is created)", code="output")
    source = open_source(io.input, io.input_colorspace, warn, runtime.cpu_threads, io.ocio_config,
                         io.foreground_colorspace, io.video_rotation)
    first, last = source.span(io.frame_start, io.frame_end)
    if first > last:
        raise VideomatteError(f"empty frame range: --frame-start {first} is after --frame-end {last}",
                              hint=f"the input has frames {format_frames(source.frames)}", code="range")
    frames = list(range(first, last + 1))
    stages = ["segment", "refine"] if runtime.stage == "all" else [runtime.stage]
    # The first frame's conversion loads its compiled code meanwhile (a daemon: a failed preflight does not wait).
    threading.Thread(target=source.warm_up, name="videomatte-warm-up", daemon=True).start()
    # The plate check (decodes that release the GIL) runs beside the model files' checks (importing the backends,
    # torch among them, and hashing the checkpoints): on a 4K shot each takes seconds. The plate's error, if
    # any, is the one raised, as when they ran in turn.
    events.preflight(0, len(frames), runtime.preflight)
    with ThreadPoolExecutor(1, thread_name_prefix="videomatte-preflight") as pool:
        check = pool.submit(source.check, frames, runtime.preflight == "full",
                            lambda checked: events.preflight(checked, len(frames), runtime.preflight))
        try:
            models = _model_files(config, stages)
        finally:
            check.result()
    # A GPU or a precision asked for where no stage has a model to run with it.
    compute = {"device": (runtime.device, ("auto", "cpu")), "precision": (runtime.precision, ("auto", "fp32"))}
    unused = [f"--{name} {value}" for name, (value, idle) in compute.items() if value not in idle]
    if unused and not any(models.values()):
        names = " and ".join(config.backend(s) for s in stages)
        warn(f"{' and '.join(unused)}: no effect, {names} use no model and run on the CPU", "device_unused")
    layout = OutputLayout.of(io, source.pixel_aspect, source.origin)
    _refuse_writing_over_inputs(layout, frames, stages, {
        **{path: "a frame of --input" for path in source.files(source.frames)},
        **{Path(path): "an anchor mask" for path in (io.anchor_mask, *io.extra_anchors.values()) if path}})
    if stages == ["refine"]:
        frames = _after_segment_start(layout, frames, warn)
    lock = FolderLock(layout.root, runtime.stage, (first, last), events.run_id).acquire()
    plan = RunPlan(config, source, frames, (first, last), _anchor_frame(config, frames), layout, stages, models,
                   lock)
    try:
        if not (runtime.resume or runtime.overwrite):
            refuse_existing(layout, frames, stages)
        if "segment" in stages:
            _set_anchors(plan, warn)
        plan.hashes = _stage_hashes(plan) if plan.frames else {}
    except BaseException:
        lock.discard()
        raise
    return plan


def _after_segment_start(layout: OutputLayout, frames: list[int], warn) -> list[int]:
    """A refine chunk's frames from where the segment step started: auto-anchor may have moved that start past a
    black opening (run_summary.segment.json says so); a chunk wholly before it has nothing to do."""
    try:
        report = json.loads(layout.reports("segment", 0, 0)[1].read_text())
    except (OSError, ValueError):
        return frames
    start = report.get("frame_start")
    if report.get("status") != "ok" or start is None or start <= frames[0]:
        return frames
    warn(f"frames {format_frames([f for f in frames if f < start])} lie before frame {start}, where the segment "
         "step started (auto-anchor skipped a dark opening): nothing to refine there")
    return [f for f in frames if f >= start]


WEIGHT_FREE = {"segment": "flow", "refine": "closed_form"}  # each stage's backend that needs no model file


def _model_files(config: Config, stages: list[str]) -> dict[str, list[dict[str, str]]]:
    """Each stage's model files with their sha256; every missing or refused file is reported at once."""
    models, errors, missing = {}, [], []
    for stage in stages:
        try:
            paths = STAGE_MODULES[stage].backend_class(config.backend(stage)).model_files(config)
        except ModelFileError as exc:
            errors.append(exc)
            if exc.code == "model_missing":
                missing.append(stage)
            continue
        models[stage] = [{"path": str(p), "sha256": file_sha256(p)} for p in paths]
    if missing:  # a first run, before any download: what runs without them
        options = " ".join(f"--{stage}-backend {WEIGHT_FREE[stage]}" for stage in missing)
        errors[-1].hint += f"\nor, without model files: {options} (weight-free, softer edges)"
    if len(errors) > 1:
        raise ModelFileError("; ".join(e.message for e in errors), hint="\n".join(e.hint for e in errors),
                             code=errors[0].code)
    if errors:
        raise errors[0]
    return models


def _file_id(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _replaced_by_write(path: Path, folders: dict[Path, str]) -> tuple[int, int]:
    """The file a write to `path` replaces: writes rename over the name itself, so a symlink there is replaced, not
    its target; symlinked folders above it are followed (and another case of the name, on macOS and Windows).
    `folders` caches each folder's real path (a resumed shot has thousands of files in a few folders)."""
    if path.parent not in folders:
        folders[path.parent] = os.path.realpath(path.parent)
    return _file_id(os.lstat(os.path.join(folders[path.parent], path.name)))


def _refuse_writing_over_inputs(layout: OutputLayout, frames: list[int], stages: list[str],
                                inputs: dict[Path, str]) -> None:
    """An output that is an input file (an --alpha-pattern that spells the plate's own names in its folder, an
    anchor kept among the alphas) would be destroyed by the run, with --overwrite or --resume alike: refused
    before anything is written. Only outputs that exist can be inputs, so a fresh folder costs nothing."""
    outputs = [*([layout.trimap_path(f) for f in frames] if "segment" in stages else []),
               *([p for f in frames for p in layout.refine_paths(f)] if "refine" in stages else [])]
    folders: dict[Path, str] = {}
    existing = {_replaced_by_write(p, folders): p for p in outputs if p.exists()}
    for path, what in inputs.items() if existing else ():
        try:
            output = existing.get(_file_id(path.stat()))
        except OSError:  # a missing anchor: its own error follows
            continue
        if output is not None:
            named = "" if os.path.abspath(output) == os.path.abspath(path) else f" (as {output})"
            raise VideomatteError(f"{path}, {what}, is also an output of this run{named}: the run would write over "
                                  "it", hint="choose another --output-dir (or --alpha-pattern)"
                                  if what.endswith("--input") else "copy the anchor out of the output folder, or "
                                  "choose another --output-dir", code="output")


def refuse_existing(layout: OutputLayout, frames: list[int], stages: list[str]) -> None:
    """Without --resume or --overwrite, outputs already in the folder are never touched."""
    found = {kind: [p for p in paths if p.exists()] for kind, paths in (
        ("trimap", [layout.trimap_path(f) for f in frames] if "segment" in stages else []),
        ("alpha", [layout.alpha_path(f) for f in frames] if "refine" in stages else []))}
    if any(found.values()):
        counts = " and ".join(f"{len(p)} {kind}" for kind, p in found.items() if p)
        example = next(p for paths in found.values() for p in paths)
        raise VideomatteError(
            f"{layout.root} already holds {counts} frames of this range (e.g. {example.name})",
            hint="pass --resume to continue that run, --overwrite to replace it, or choose another --output-dir",
            code="output_exists")


def _anchor_frame(config: Config, frames: list[int]) -> int:
    return config.io.anchor_frame if config.io.anchor_frame is not None or not frames else frames[0]


def _set_anchors(plan: RunPlan, warn) -> None:
    """The given anchor and extra anchors, or the auto-anchor (written to anchor_mask.auto.png), which may
    move the start past a black opening."""
    config, source, io = plan.config, plan.source, plan.config.io
    if io.anchor_mask and plan.anchor_frame in io.extra_anchors:  # one would silently replace the other
        raise VideomatteError(f"two anchors for frame {plan.anchor_frame}: --anchor-mask {io.anchor_mask} and "
                              f"--extra-anchor {plan.anchor_frame}={io.extra_anchors[plan.anchor_frame]}",
                              hint="give one anchor per frame: drop that extra anchor, or move --anchor-frame",
                              code="anchor")
    paths = {plan.anchor_frame: io.anchor_mask, **io.extra_anchors} if io.anchor_mask else dict(io.extra_anchors)
    if _wants_auto_anchor(config, source):
        auto = auto_anchor.find(source, plan.frames, config, warn)
        plan.frames = [f for f in plan.frames if f >= auto.frame]
        plan.anchor_frame, plan.auto_anchor = auto.frame, auto
        plan.layout.write_auto_anchor(auto.mask)
        paths = {auto.frame: str(plan.layout.anchor_auto), **paths}
    elif not io.anchor_mask:
        raise _anchor_required(source)
    frames = plan.frames
    for frame, path in paths.items():
        extra = frame in io.extra_anchors  # named as the user gave it: --extra-anchor FRAME=PATH
        if not frames[0] <= frame <= frames[-1]:
            named = f"--extra-anchor {frame}={path}: frame {frame}" if extra else f"anchor frame {frame}"
            raise VideomatteError(f"{named} is outside the frame range {frame_range(frames[0], frames[-1])}",
                                  hint="give a frame inside the range, or leave that extra anchor out" if extra else
                                  "set --anchor-frame to a frame inside the range", code="anchor")
        option = f"--extra-anchor {frame}=PATH" if extra else "--anchor-mask"
        plan.anchors[frame] = load_anchor(Path(path), source.width, source.height, warn, option, source.pixel_aspect)
        plan.anchor_files[frame] = {"path": str(path), "sha256": file_sha256(Path(path))}


def _stage_hashes(plan: RunPlan) -> dict[str, str]:
    """The segment hash comes from the plate, anchors, settings and model files, or, for a refine-only
    run (a farm chunk), from the trimaps stage 1 left in qc/; the refine hash builds on it."""
    def weights(stage: str) -> list[str]:
        return [m["sha256"] for m in plan.models.get(stage, [])]

    if "segment" in plan.stages:
        extra: dict[str, Any] = {"input": plan.source.description, "anchor_frame": plan.anchor_frame,
                                 "plate_files": plan.source.fingerprint(plan.frames),
                                 "colour": {k: v for k, v in plan.source.colour.describe().items()
                                            if k not in ("chosen_by", "foreground_space")},
                                 "anchors": {str(k): v["sha256"] for k, v in plan.anchor_files.items()},
                                 "models": weights("segment")}
        seg = plan.config.stage_hash("segment", extra)
    else:
        seg = _trimap_hash(plan)
    return {"segment": seg, "refine": plan.config.stage_hash("refine", {
        "segment": seg, "models": weights("refine"), "foreground_space": plan.source.colour.linear_space})}


def _trimap_hash(plan: RunPlan) -> str:
    layout = plan.layout
    found = {f: read_attribute(layout.trimap_path(f), HASH_ATTR) for f in plan.frames}
    missing = [f for f, h in found.items() if h is None]
    if missing:
        raise VideomatteError(f"trimaps for frames {format_frames(missing)} are missing in {layout.qc_dir}",
                              hint="run `--stage segment` over the whole shot first (same --output-dir); if "
                                   "auto-anchor moved the start past a black opening, start the chunks at the "
                                   "frame_start in run_summary.segment.json",
                              code="trimaps_missing")
    if len(set(found.values())) > 1:
        raise VideomatteError(f"the trimaps in {layout.qc_dir} come from different segment runs",
                              hint="re-run `--stage segment --overwrite` over the whole shot", code="trimaps_mixed")
    return next(iter(found.values()))
