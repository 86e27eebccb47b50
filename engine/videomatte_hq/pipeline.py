"""The loop: read -> segment -> trimap -> refine -> write, over a checked plan (plan.py).

Stage 1 writes a trimap per frame; stage 2 reads the trimaps back. That split is what makes runs resumable
frame by frame and lets a farm run stage 2 in chunks. The stages only emit events; the report and the
progress displays are event sinks.
"""

from __future__ import annotations

import threading
import time
from functools import partial

from . import refine, segment
from .drift import DriftCheck
from .errors import Cancelled, VideomatteError, format_frames
from .events import Events
from .fileio import remove_stale_temps
from .io.colour import image_to_u8
from .io.images import read_attribute
from .io.writeback import WriteBehind
from .layout import HASH_ATTR, quantize
from .plan import RunPlan
from .refine.foreground import estimate_foreground
from .refine.tiling import FrameMemory, TiledRefiner
from .trimap import band_radius, make_trimap

WRITERS = 4


def execute(plan: RunPlan, events: Events, cancel: threading.Event | None = None) -> None:
    for stage in plan.stages:
        started = time.perf_counter()
        events.stage_start(stage, len(plan.frames))
        (_segment if stage == "segment" else _refine)(plan, events, cancel)
        events.stage_end(stage, time.perf_counter() - started)


def _writers(plan: RunPlan) -> int:
    """Writer threads: PNG/EXR encoding is the slow part of writing a 4K frame."""
    return min(WRITERS, plan.config.runtime.cpu_threads)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def _done(plan: RunPlan, events: Events, stage: str, paths_of, config_hash: str) -> set[int]:
    """Frames an earlier run with the same settings already wrote (kept by --resume); says why the files of
    other frames are not kept. `paths_of(frame)` lists a frame's files, the one written last (whose hash is
    read) at the end. First removes the temp files a killed run left mid-write for these frames (this run
    holds their lock)."""
    remove_stale_temps([p for f in plan.frames for p in paths_of(f)])
    if not plan.config.runtime.resume:
        return set()
    found = {f: read_attribute(paths_of(f)[-1], HASH_ATTR) for f in plan.frames
             if all(p.is_file() for p in paths_of(f))}
    kept = {f for f, h in found.items() if h == config_hash}
    stale = sorted(set(found) - kept)
    if stale:
        events.warning(f"--resume: {stage} keeps {len(kept)} of {len(plan.frames)} frames; the files of frames "
                       f"{format_frames(stale)} were written with other settings (their settings hash differs) "
                       "and are recomputed", "resume_stale")
    return kept


def _segment(plan: RunPlan, events: Events, cancel: threading.Event | None) -> None:
    config, layout = plan.config, plan.layout
    backend = segment.backend_class(config.backend("segment"))(config, events.warning)
    fg, bg, min_radius = config.thresholds()
    radius = band_radius(min_radius, plan.source.height, plan.source.width)
    seg_hash = plan.hashes["segment"]
    done = _done(plan, events, "segment", lambda f: [layout.trimap_path(f)], seg_hash)
    if len(done) == len(plan.frames):
        for frame in plan.frames:
            events.frame_done("segment", frame, resumed=True)
        return
    lost, drifted, drift = [], {}, DriftCheck(plan.anchors)
    with WriteBehind(_writers(plan)) as writer:
        for frame, prob, subject_lost in segment.track(backend, plan.frames, plan.anchor_frame, plan.anchors,
                                                       plan.source.iter_frames):
            _check(cancel)
            # Propagation is sequential, so frames kept from a killed run are recomputed but not rewritten.
            trimap = None if frame in done else make_trimap(prob, fg, bg, radius)
            departure = drift.departure(frame, prob)
            writer.submit(None if trimap is None else partial(layout.write_trimap, frame, trimap, seg_hash),
                          partial(events.frame_done, "segment", frame, resumed=frame in done,
                                  subject_lost=subject_lost, drift_suspected=departure is not None))
            if subject_lost:
                lost.append(frame)
            if departure:
                drifted[frame] = departure
    name = config.backend("segment")
    if lost:
        events.warning(f"{name} lost the subject on frames {format_frames(sorted(lost))} "
                       "(their alpha is empty); add an anchor there: --extra-anchor FRAME=roto.png", "subject_lost")
    if drifted:
        first = min(drifted)
        events.warning(f"{name}'s mask may have drifted off the subject on frames {format_frames(sorted(drifted))} "
                       f"(frame {first}: {drifted[first]}); check their QC trimaps and add an anchor at the first "
                       f"one: --extra-anchor {first}=roto.png", "drift_suspected")


def _refine(plan: RunPlan, events: Events, cancel: threading.Event | None) -> None:
    config, layout, ref = plan.config, plan.layout, plan.config.refinement
    backend = refine.backend_class(config.backend("refine"))(config, events.warning)
    if sum(layout.trimap_unknown(f) for f in plan.frames) == 0:
        raise VideomatteError(
            f"{backend.display_name} did not execute on any tiles (trimap unknown band was empty on every frame)",
            hint="widen the band: --trimap-band wider|maximum, or lower --trimap-fg-threshold / "
                 "raise --trimap-bg-threshold; check qc/trimap.*.png",
            code="empty_band")
    height, width = plan.source.height, plan.source.width
    mode = ref.refine_mode
    if mode == "auto":
        fits = getattr(backend, "full_frame_fits", None)
        mode = "full" if fits is not None and fits(height, width) else "tiled"
    if mode == "full":  # one tile: the frame (temporal reuse then keeps or recomputes the whole frame)
        tile, overlap = max(height, width), 0
    else:
        tile = ref.tile_size or backend.default_tile
        overlap = ref.tile_overlap if ref.tile_overlap is not None else backend.default_overlap
    if overlap >= tile:
        raise VideomatteError(f"tile_overlap ({overlap}) must be smaller than tile_size ({tile})",
                              hint="lower --tile-overlap or raise --tile-size", code="config")
    batch = ref.batch_size or backend.default_batch
    events.emit("refine_plan", mode=mode, tile_size=tile, tile_overlap=overlap, batch_size=batch)
    refiner = TiledRefiner(backend, tile, overlap, batch, ref.temporal_reuse,
                           ref.skip_iou_threshold, ref.skip_image_delta)
    ref_hash = plan.hashes["refine"]
    done = _done(plan, events, "refine", layout.refine_paths, ref_hash)
    for frame in sorted(done):
        events.frame_done("refine", frame, resumed=True)
    memory: FrameMemory | None = None
    last = None
    todo = [f for f in plan.frames if f not in done]
    space = plan.source.colour.linear_space
    with WriteBehind(_writers(plan)) as writer:
        for frame, image, linear in plan.source.iter_with_linear(todo, layout.wants_foreground):
            _check(cancel)
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
            foreground = (estimate_foreground(linear, written, threads=config.runtime.cpu_threads)
                          if layout.wants_foreground else None)
            writer.submit(partial(layout.write_refined, frame, written, trimap, foreground, space, ref_hash),
                          partial(events.frame_done, "refine", frame, tiles_refined=refined, tiles_skipped=skipped))
            memory = FrameMemory(image_u8, trimap, written) if ref.temporal_reuse else None
            last = frame
