"""The loop: read -> segment -> trimap -> refine -> write, over a checked plan (plan.py).

Stage 1 writes a trimap per frame; stage 2 reads the trimaps back. That split is what makes runs resumable
frame by frame and lets a farm run stage 2 in chunks. A run of both stages whose propagation is one forward pass
(the anchor on its first frame) does both in that pass: each frame is decoded once, its trimap written and then
refined from memory, with the same files as the two passes would write. The stages only emit events; the report
and the progress displays are event sinks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from functools import partial

import numpy as np

from . import refine, segment
from .drift import DriftCheck
from .errors import Cancelled, VideomatteError, format_frames
from .events import Events
from .fileio import remove_stale_temps
from .io.images import read_attribute
from .io.readahead import background
from .io.source import Decoded
from .io.writeback import WriteBehind
from .layout import HASH_ATTR, quantize
from .plan import RunPlan
from .refine.foreground import estimate_foreground
from .refine.tiling import FrameMemory, TiledRefiner
from .trimap import UNKNOWN, band_radius, make_trimap

# Writer threads, at most: a noisy 4K png16 alpha took 0.4-0.8 s to encode on an H100 host, where 4 writers held
# the loop back (docs/benchmarks.md); up to the run's CPU threads.
WRITERS = 8
TRACK_AHEAD = 2  # frames the tracker may run ahead of the refine in a one-pass run


def execute(plan: RunPlan, events: Events, cancel: threading.Event | None = None) -> None:
    kept = _trimaps_kept(plan, events) if "segment" in plan.stages else set()
    if plan.stages == ["segment", "refine"] and _one_pass(plan) and len(kept) < len(plan.frames):
        _segment_and_refine(plan, events, cancel, kept)
        return
    for stage in plan.stages:
        started = time.perf_counter()
        events.stage_start(stage, len(plan.frames))
        if stage == "segment":
            _segment(plan, events, cancel, kept)
        else:
            _refine(plan, events, cancel)
        events.stage_end(stage, time.perf_counter() - started)


def _refine_backend(plan: RunPlan, events: Events):
    config = plan.config
    return refine.backend_class(config.backend("refine"))(config, events.warning)


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
                       f"{format_frames(stale)} were written with other settings or plate files (their settings "
                       "hash differs) and are recomputed", "resume_stale")
    return kept


def _trimaps_kept(plan: RunPlan, events: Events) -> set[int]:
    return _done(plan, events, "segment", lambda f: [plan.layout.trimap_path(f)], plan.hashes["segment"])


class _Segmenter:
    """Stage 1 frame by frame: the trimap of each tracked frame, written behind; the drift and subject-lost
    checks, warned at the end."""

    def __init__(self, plan: RunPlan, events: Events, writer: WriteBehind, kept: set[int]) -> None:
        config = plan.config
        self.plan, self.events, self.writer, self.done = plan, events, writer, kept
        self.backend = segment.backend_class(config.backend("segment"))(config, events.warning)
        fg, bg, min_radius = config.thresholds()
        self.thresholds = fg, bg, band_radius(min_radius, plan.source.height, plan.source.width)
        # Beside a model on a GPU the trimap is computed there (SAM2's probability is already there).
        device = str(getattr(self.backend, "device", ""))
        self.trimap_device = device if device.startswith("cuda") else None
        self.hash = plan.hashes["segment"]
        self.lost: list[int] = []
        self.drifted: dict[int, str] = {}
        self.drift = DriftCheck(plan.anchors)

    def track(self, read) -> Iterator[tuple[int, np.ndarray, bool]]:
        return segment.track(self.backend, self.plan.frames, self.plan.anchor_frame, self.plan.anchors, read)

    def trimap(self, frame: int, prob) -> tuple[np.ndarray, str | None]:
        """The frame's trimap and why its mask looks drifted (None: it does not); any thread."""
        return make_trimap(prob, *self.thresholds, self.trimap_device), self.drift.departure(frame, prob)

    def record(self, frame: int, trimap: np.ndarray, subject_lost: bool, departure: str | None) -> None:
        """Write the trimap unless a killed run with these settings wrote it (propagation is sequential, so such
        frames are recomputed but not rewritten); on the loop's thread. Its frame_done follows the file."""
        kept = frame in self.done
        self.writer.submit(None if kept else partial(self.plan.layout.write_trimap, frame, trimap, self.hash),
                           partial(self.events.frame_done, "segment", frame, resumed=kept,
                                   subject_lost=subject_lost, drift_suspected=departure is not None))
        if subject_lost:
            self.lost.append(frame)
        if departure:
            self.drifted[frame] = departure

    def finish(self) -> None:
        name, warn = self.plan.config.backend("segment"), self.events.warning
        if self.lost:
            warn(f"{name} lost the subject on frames {format_frames(sorted(self.lost))} (their alpha is empty); "
                 "add an anchor there: --extra-anchor FRAME=roto.png", "subject_lost")
        if self.drifted:
            first = min(self.drifted)
            warn(f"{name}'s mask may have drifted off the subject on frames {format_frames(sorted(self.drifted))} "
                 f"(frame {first}: {self.drifted[first]}); check their QC trimaps and add an anchor at the first "
                 f"one: --extra-anchor {first}=roto.png", "drift_suspected")


def _segment(plan: RunPlan, events: Events, cancel: threading.Event | None, kept: set[int]) -> None:
    if len(kept) == len(plan.frames):
        for frame in plan.frames:
            events.frame_done("segment", frame, resumed=True)
        return
    with WriteBehind(_writers(plan)) as writer:
        segmenter = _Segmenter(plan, events, writer, kept)
        for frame, prob, subject_lost in segmenter.track(plan.source.iter_decoded):
            _check(cancel)
            trimap, departure = segmenter.trimap(frame, prob)
            segmenter.record(frame, trimap, subject_lost, departure)
    segmenter.finish()


def _empty_band(backend_name: str) -> VideomatteError:
    return VideomatteError(
        f"{backend_name} did not execute on any tiles (trimap unknown band was empty on every frame)",
        hint="widen the band: --trimap-band wider|maximum, or lower --trimap-fg-threshold / "
             "raise --trimap-bg-threshold; check qc/trimap.*.png",
        code="empty_band")


class _Refiner:
    """Stage 2 frame by frame, in ascending order: temporal reuse against the previous frame (rebuilt from its
    files where a killed run with these settings wrote it, as the uninterrupted run had it in memory), the
    optional foreground, the files written behind."""

    def __init__(self, plan: RunPlan, events: Events, writer: WriteBehind, backend) -> None:
        layout, ref = plan.layout, plan.config.refinement
        self.plan, self.events, self.writer, self.backend = plan, events, writer, backend
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
        self.refiner = TiledRefiner(backend, tile, overlap, batch, ref.temporal_reuse,
                                    ref.skip_iou_threshold, ref.skip_image_delta)
        self.hash = plan.hashes["refine"]
        self.done = _done(plan, events, "refine", layout.refine_paths, self.hash)
        for frame in sorted(self.done):
            events.frame_done("refine", frame, resumed=True)
        self.memory: FrameMemory | None = None
        self.last: int | None = None

    def frame(self, decoded: Decoded, trimap: np.ndarray) -> None:
        plan, layout, reuse = self.plan, self.plan.layout, self.plan.config.refinement.temporal_reuse
        frame = decoded.frame
        if reuse and self.last != frame - 1 and frame - 1 in self.done:
            # After a kept frame: rebuild what the uninterrupted run had in memory.
            before = next(plan.source.iter_decoded([frame - 1]))
            self.memory = FrameMemory(before.rgb_u8, layout.read_trimap(frame - 1), layout.read_alpha(frame - 1))
        elif self.last != frame - 1:
            self.memory = None
        alpha, refined, skipped = self.refiner.refine_frame(decoded.rgb, decoded.rgb_u8, trimap, self.memory)
        written = quantize(alpha, layout.alpha_format)
        foreground = (estimate_foreground(decoded.linear, written.values, threads=plan.config.runtime.cpu_threads)
                      if layout.wants_foreground else None)
        self.writer.submit(
            partial(layout.write_refined, frame, written, trimap, foreground, plan.source.colour.linear_space,
                    self.hash),
            partial(self.events.frame_done, "refine", frame, tiles_refined=refined, tiles_skipped=skipped))
        self.memory = FrameMemory(decoded.rgb_u8, trimap, written.values) if reuse else None
        self.last = frame

    def frames(self, frames: list[int], cancel: threading.Event | None) -> None:
        """Refine `frames` (ascending, none kept) with their trimaps from qc/."""
        source, layout = self.plan.source, self.plan.layout
        for decoded in source.iter_decoded(frames, layout.wants_foreground):
            _check(cancel)
            self.frame(decoded, layout.read_trimap(decoded.frame))


def _refine(plan: RunPlan, events: Events, cancel: threading.Event | None) -> None:
    if sum(plan.layout.trimap_unknown(f) for f in plan.frames) == 0:
        raise _empty_band(refine.backend_class(plan.config.backend("refine")).display_name)
    with WriteBehind(_writers(plan)) as writer:
        refiner = _Refiner(plan, events, writer, _refine_backend(plan, events))
        refiner.frames([f for f in plan.frames if f not in refiner.done], cancel)


def _one_pass(plan: RunPlan) -> bool:
    """Both stages in the tracking pass: propagation is one forward pass (a backward pass would refine out of
    frame order, and temporal reuse makes each alpha depend on the frame before)."""
    return not segment.propagation_order(plan.frames, plan.anchor_frame)[1]


def _segment_and_refine(plan: RunPlan, events: Events, cancel: threading.Event | None, kept: set[int]) -> None:
    """Both stages over one decode of each frame, the tracker on its own thread up to TRACK_AHEAD frames ahead
    of the refine (a weight-free tracker is single-threaded: the refine has the other cores meanwhile). As in
    two passes, no alpha is written before some frame has an unknown band: the frames before it wait (their
    trimaps go to disk) and are read again then."""
    seconds = dict.fromkeys(plan.stages, 0.0)
    for stage in plan.stages:
        events.stage_start(stage, len(plan.frames))
    current: list[Decoded] = []

    def read(frames: list[int]) -> Iterator[Decoded]:
        for decoded in plan.source.iter_decoded(frames, plan.layout.wants_foreground):
            current[:] = [decoded]  # the tracker yields each frame before it reads the next
            yield decoded

    def tracked() -> Iterator[tuple[Decoded, np.ndarray, bool, str | None]]:
        clock = time.perf_counter()
        for frame, prob, subject_lost in segmenter.track(read):
            trimap, departure = segmenter.trimap(frame, prob)
            seconds["segment"] += time.perf_counter() - clock
            yield current[0], trimap, subject_lost, departure
            clock = time.perf_counter()  # not counting the wait for the refine to take it

    waiting: list[int] = []
    banded = False
    with (ThreadPoolExecutor(1, thread_name_prefix="videomatte-load") as loader,
          WriteBehind(_writers(plan)) as writer):
        # The refine model loads on a thread of its own while the segment model loads and tracks the first frames:
        # neither needs the other until the first trimap is there.
        loading = loader.submit(lambda: _Refiner(plan, events, writer, _refine_backend(plan, events)))
        segmenter = _Segmenter(plan, events, writer, kept)
        with closing(background(tracked(), TRACK_AHEAD)) as frames:  # closed: the tracker stops on an error
            for decoded, trimap, subject_lost, departure in frames:
                _check(cancel)
                refiner = loading.result()  # the wait, on the first frame only
                started = time.perf_counter()
                frame = decoded.frame
                segmenter.record(frame, trimap, subject_lost, departure)
                banded = banded or bool(np.any(trimap == UNKNOWN))  # as the two-pass check: any frame, kept or not
                if banded and waiting:
                    writer.flush()  # their trimaps are on disk
                    refiner.frames(waiting, cancel)
                    waiting = []
                if frame not in refiner.done:
                    if banded:
                        refiner.frame(decoded, trimap)
                    else:
                        waiting.append(frame)
                seconds["refine"] += time.perf_counter() - started
    segmenter.finish()
    if not banded:
        raise _empty_band(loading.result().backend.display_name)
    for stage in plan.stages:
        events.stage_end(stage, seconds[stage])
