"""The one loop: read -> segment -> trimap -> refine -> write.

Stage 1 writes a trimap per frame; stage 2 reads the trimaps back. That split is what
makes runs resumable frame by frame and lets a farm run stage 2 in chunks
(`--stage segment` once, then `--stage refine --frame-start/--frame-end` per chunk).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import __version__, auto_anchor, refine, segment
from .anchor import file_sha256, load_anchor
from .config import Config
from .errors import ModelFileError, VideomatteError, format_frames
from .events import Events
from .io.colour import image_to_u8
from .io.images import read_attribute
from .io.source import FrameSource, open_source
from .outputs import HASH_ATTR, OutputLayout, quantize, write_json
from .refine.tiling import FrameMemory, TiledRefiner
from .trimap import band_radius, make_trimap

VERSIONED_PACKAGES = ("videomatte-hq", "numpy", "OpenImageIO", "opencv-python", "av", "pymatting", "torch",
                      "ultralytics")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["videomatte-hq"] = __version__
    return versions


@dataclass
class RunPlan:
    """Everything checked before the first byte is written."""

    config: Config
    source: FrameSource
    frames: list[int]
    requested: tuple[int, int]
    anchor_frame: int
    anchors: dict[int, np.ndarray]
    anchor_files: dict[int, dict[str, str]]
    layout: OutputLayout
    stages: list[str]
    models: dict[str, list[dict[str, str]]]  # stage -> [{"path", "sha256"}] of the model files it uses
    auto_anchor: auto_anchor.AutoAnchor | None
    hashes: dict[str, str] = field(default_factory=dict)


def _anchor_required(source: FrameSource) -> VideomatteError:
    return VideomatteError(
        "anchor_mask is required for v2 pipeline runs",
        hint="pass --anchor-mask FILE (a white-on-black roto of the subject at --anchor-frame)"
             + ("" if source.kind == "video" else ", or --auto-anchor to detect the person"), code="anchor")


def _wants_auto_anchor(config: Config, source: FrameSource) -> bool:
    """Explicit --auto-anchor, or a video given without an anchor (as the reference tool)."""
    if config.segmentation.auto_anchor and config.io.anchor_mask:
        raise VideomatteError("--auto-anchor and --anchor-mask both given", code="anchor",
                              hint="drop one: the anchor mask, or the automatic person detection")
    return config.segmentation.auto_anchor or (source.kind == "video" and not config.io.anchor_mask)


def prepare(config: Config, events: Events) -> RunPlan:
    io, runtime = config.io, config.runtime
    if not io.input:
        raise VideomatteError("no input given", hint="pass --input plate.####.exr (or a video file)", code="input")
    if not io.output_dir:
        raise VideomatteError("no output folder given", hint="pass --output-dir DIR", code="output")
    source = open_source(io.input, io.input_colorspace, events.warning)
    first = io.frame_start if io.frame_start is not None else source.frames[0]
    last = io.frame_end if io.frame_end is not None else source.frames[-1]
    if first > last:
        raise VideomatteError(f"empty frame range: --frame-start {first} is after --frame-end {last}",
                              hint=f"the input has frames {format_frames(source.frames)}", code="range")
    frames = list(range(first, last + 1))
    source.check(frames, full=runtime.preflight == "full")

    stages = ["segment", "refine"] if runtime.stage == "all" else [runtime.stage]
    models = _model_files(config, stages)
    layout = OutputLayout(Path(io.output_dir), io.alpha_format)
    if not (runtime.resume or runtime.overwrite):
        _refuse_existing(layout, frames, stages)
    frames, anchor_frame, anchors, anchor_files, auto = (
        _anchors(config, source, frames, layout, events) if "segment" in stages
        else (frames, _anchor_frame(config, frames), {}, {}, None))
    return RunPlan(config, source, frames, (first, last), anchor_frame, anchors, anchor_files, layout, stages, models,
                   auto)


def _model_files(config: Config, stages: list[str]) -> dict[str, list[dict[str, str]]]:
    """Each stage's model files with their sha256; every missing or refused file is reported at once."""
    stage_modules = {"segment": segment, "refine": refine}
    models, errors = {}, []
    for stage in stages:
        try:
            paths = stage_modules[stage].backend_class(config.backend(stage)).model_files(config)
        except ModelFileError as exc:
            errors.append(exc)
            continue
        models[stage] = [{"path": str(p), "sha256": file_sha256(p)} for p in paths]
    if len(errors) > 1:
        raise ModelFileError("; ".join(e.message for e in errors), hint="\n".join(e.hint for e in errors),
                             code=errors[0].code)
    if errors:
        raise errors[0]
    return models


def _refuse_existing(layout: OutputLayout, frames: list[int], stages: list[str]) -> None:
    written = [layout.trimap_path(f) for f in frames if "segment" in stages] + \
              [layout.alpha_path(f) for f in frames if "refine" in stages]
    existing = layout.existing(written)
    if existing:
        raise VideomatteError(
            f"{layout.root} already holds {len(existing)} output frames of this range (e.g. {existing[0].name})",
            hint="pass --resume to continue that run, --overwrite to replace it, or choose another --output-dir",
            code="output_exists")


def _anchor_frame(config: Config, frames: list[int]) -> int:
    return config.io.anchor_frame if config.io.anchor_frame is not None else frames[0]


def _anchors(config: Config, source: FrameSource, frames: list[int], layout: OutputLayout, events: Events):
    """(frames, anchor frame, masks by frame, their files, auto-anchor): the given anchor and extra anchors,
    or the auto-anchor, which may move the start past a black opening."""
    io = config.io
    anchor_frame = _anchor_frame(config, frames)
    paths = {anchor_frame: io.anchor_mask, **io.extra_anchors} if io.anchor_mask else dict(io.extra_anchors)
    auto = None
    if _wants_auto_anchor(config, source):
        auto = auto_anchor.find(source, frames, config, events.warning)
        frames = [f for f in frames if f >= auto.frame]
        anchor_frame = auto.frame
        layout.write_auto_anchor(auto.mask)
        paths = {auto.frame: str(layout.anchor_auto), **paths}
    elif not io.anchor_mask:
        raise _anchor_required(source)
    anchors: dict[int, np.ndarray] = {}
    files: dict[int, dict[str, Any]] = {}
    for frame, path in paths.items():
        if not frames[0] <= frame <= frames[-1]:
            raise VideomatteError(f"anchor frame {frame} is outside the frame range {frames[0]}-{frames[-1]}",
                                  hint="set --anchor-frame to a frame inside the range", code="anchor")
        anchors[frame] = load_anchor(Path(path), source.width, source.height, events.warning)
        files[frame] = {"path": str(path), "sha256": file_sha256(Path(path))}
    return frames, anchor_frame, anchors, files, auto


def _stage_hashes(plan: RunPlan) -> dict[str, str]:
    """The segment hash comes from the plate, anchors, settings and model files, or, for a refine-only
    run (a farm chunk), from the trimaps stage 1 left in qc/; the refine hash builds on it."""
    def weights(stage: str) -> list[str]:
        return [m["sha256"] for m in plan.models.get(stage, [])]

    if "segment" in plan.stages:
        extra = {"input": plan.source.description, "anchor_frame": plan.anchor_frame,
                 "anchors": {str(k): v["sha256"] for k, v in plan.anchor_files.items()}, "models": weights("segment")}
        seg = plan.config.stage_hash("segment", extra)
    else:
        seg = _trimap_hash(plan)
    return {"segment": seg, "refine": plan.config.stage_hash("refine", {"segment": seg, "models": weights("refine")})}


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


def _segment(plan: RunPlan, events: Events, summary: dict[str, Any]) -> None:
    config, layout = plan.config, plan.layout
    backend = segment.backend_class(config.backend("segment"))(config, events.warning)
    fg, bg, min_radius = config.thresholds()
    radius = band_radius(min_radius, plan.source.height, plan.source.width)
    seg_hash = plan.hashes["segment"]
    done = {f for f in plan.frames if config.runtime.resume and layout.matches(layout.trimap_path(f), seg_hash)}
    events.stage_start("segment", len(plan.frames))
    if len(done) == len(plan.frames):
        for frame in plan.frames:
            events.frame_done("segment", frame, resumed=True)
        return
    lost = []
    for frame, prob, subject_lost in segment.track(backend, plan.frames, plan.anchor_frame, plan.anchors,
                                                   plan.source.iter_frames):
        # Propagation is sequential, so frames kept from a killed run are recomputed but not rewritten.
        if frame not in done:
            layout.write_trimap(frame, make_trimap(prob, fg, bg, radius), seg_hash)
        if subject_lost:
            lost.append(frame)
        events.frame_done("segment", frame, resumed=frame in done, subject_lost=subject_lost)
    summary["trimaps_written"] = len(plan.frames) - len(done)
    summary["subject_lost_frames"] = sorted(lost)
    if lost:
        events.warning(f"{config.backend('segment')} lost the subject on frames {format_frames(sorted(lost))} "
                       "(their alpha is empty); add an anchor there: --extra-anchor FRAME=roto.png")


def _refine(plan: RunPlan, events: Events, summary: dict[str, Any]) -> None:
    config, layout, ref = plan.config, plan.layout, plan.config.refinement
    backend = refine.backend_class(config.backend("refine"))(config, events.warning)
    if sum(layout.trimap_unknown(f) for f in plan.frames) == 0:
        raise VideomatteError(
            f"{backend.display_name} did not execute on any tiles (trimap unknown band was empty on every frame)",
            hint="widen the band: --trimap-band wider|maximum, or lower --trimap-fg-threshold / "
                 "raise --trimap-bg-threshold; check qc/trimap.*.png",
            code="empty_band")
    tile = ref.tile_size or backend.default_tile
    overlap = ref.tile_overlap if ref.tile_overlap is not None else backend.default_overlap
    if overlap >= tile:
        raise VideomatteError(f"tile_overlap ({overlap}) must be smaller than tile_size ({tile})",
                              hint="lower --tile-overlap or raise --tile-size", code="config")
    refiner = TiledRefiner(backend, tile, overlap, ref.batch_size, ref.temporal_reuse,
                           ref.skip_iou_threshold, ref.skip_image_delta)
    ref_hash = plan.hashes["refine"]
    done = {f for f in plan.frames if config.runtime.resume and layout.matches(layout.alpha_path(f), ref_hash)}
    todo = [f for f in plan.frames if f not in done]
    events.stage_start("refine", len(plan.frames))
    for frame in sorted(done):
        events.frame_done("refine", frame, resumed=True)
    memory: FrameMemory | None = None
    last = None
    for frame, image in plan.source.iter_frames(todo):
        image_u8 = image_to_u8(image)
        if ref.temporal_reuse and last != frame - 1 and frame - 1 in done:
            # Resumed after a kept frame: rebuild what the uninterrupted run had in memory.
            memory = FrameMemory(image_to_u8(plan.source.read(frame - 1)), layout.read_trimap(frame - 1),
                                 layout.read_alpha(frame - 1))
        elif last != frame - 1:
            memory = None
        trimap = layout.read_trimap(frame)
        alpha, refined, skipped = refiner.refine_frame(image, image_u8, trimap, memory)
        written = quantize(alpha, layout.alpha_format)
        layout.write_alpha(frame, written, ref_hash)
        memory = FrameMemory(image_u8, trimap, written) if ref.temporal_reuse else None
        last = frame
        summary["tiles"]["refined"] += refined
        summary["tiles"]["skipped"] += skipped
        summary["frames_written"] += 1
        events.frame_done("refine", frame, tiles_refined=refined, tiles_skipped=skipped)


def run(config: Config, events: Events) -> dict[str, Any]:
    """Run the configured stages; returns the run summary (also written to run_summary*.json)."""
    started = time.perf_counter()
    cv2.setNumThreads(config.runtime.cpu_threads)
    plan = prepare(config, events)
    plan.hashes = _stage_hashes(plan)
    layout = plan.layout
    layout.root.mkdir(parents=True, exist_ok=True)
    config_used, summary_path = layout.reports(config.runtime.stage, plan.frames[0], plan.frames[-1])
    write_json(config_used, config.model_dump(mode="json"))
    summary: dict[str, Any] = {
        "status": "running",
        "input": plan.source.description,
        "input_kind": plan.source.kind,
        "plate_size": [plan.source.width, plan.source.height],
        "input_linear": plan.source.linear,
        "requested_frame_start": plan.requested[0],
        "requested_frame_end": plan.requested[1],
        "frame_start": plan.frames[0],
        "frame_end": plan.frames[-1],
        "frame_count": len(plan.frames),
        "stages": plan.stages,
        "anchor": {"frame": plan.anchor_frame, "path": plan.anchor_files.get(plan.anchor_frame, {}).get("path"),
                   "files": {str(k): v for k, v in plan.anchor_files.items()}},
        "auto_anchor": None if plan.auto_anchor is None else {
            "method": plan.auto_anchor.method, "probe_frame": plan.auto_anchor.frame, "box": plan.auto_anchor.box,
            "mask_from": plan.auto_anchor.mask_from,
            "dark_frames_skipped": plan.auto_anchor.dark_frames, "path": str(layout.anchor_auto)},
        "backends": {s: {"name": config.backend(s), "model_files": plan.models[s]} for s in plan.stages},
        "config_hash": plan.hashes,
        "device": config.runtime.device,
        "precision": config.runtime.precision,
        "stage_seconds": {"preflight": round(time.perf_counter() - started, 3)},
        "tiles": {"refined": 0, "skipped": 0},
        "frames_written": 0,
        "outputs": {"alpha": layout.alpha_pattern, "trimap": layout.trimap_pattern},
        "versions": package_versions(),
    }
    events.run_start(len(plan.frames), plan.frames[0], plan.frames[-1], str(layout.root), plan.stages)
    stage_fns = {"segment": _segment, "refine": _refine}
    try:
        for stage in plan.stages:
            t0 = time.perf_counter()
            stage_fns[stage](plan, events, summary)
            summary["stage_seconds"][stage] = round(time.perf_counter() - t0, 3)
            events.stage_end(stage, summary["stage_seconds"][stage])
    except BaseException as exc:
        summary["status"] = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
        summary["error"] = str(exc)
        write_json(summary_path, _finish(summary, plan, events, started))
        raise
    summary["status"] = "ok"
    write_json(summary_path, _finish(summary, plan, events, started))
    events.run_end("ok", frames_written=summary["frames_written"], alpha_dir=str(layout.alpha_dir),
                   alpha_pattern=layout.alpha_pattern, trimap_pattern=layout.trimap_pattern,
                   summary=str(summary_path))
    return summary


def _finish(summary: dict[str, Any], plan: RunPlan, events: Events, started: float) -> dict[str, Any]:
    summary["stage_seconds"]["total"] = round(time.perf_counter() - started, 3)
    summary["nonfinite_values_clamped"] = plan.source.nonfinite_values
    summary["warnings"] = list(events.warnings)
    return summary
