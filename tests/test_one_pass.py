"""A run of both stages tracks and refines in one pass over the plate (each frame decoded once after the
preflight) and writes the same files as the two stages run one after the other."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import read_pixels, register_tracker, run_api
from videomatte_hq.errors import VideomatteError
from videomatte_hq.events import Console, Events
from videomatte_hq.io import source

# Small tiles and loose reuse: the refine of each frame depends on the frame before, so the order must be kept.
REUSE = {"tile_size": 64, "tile_overlap": 16, "skip_iou_threshold": 0.3, "skip_image_delta": 0.2}


def _files(out: Path) -> dict[str, np.ndarray]:
    return {f"{d}/{p.name}": read_pixels(p)[0] for d in ("alpha", "qc") for p in sorted((out / d).glob("*.png"))}


@pytest.fixture
def decodes(monkeypatch) -> Counter:
    """How often each plate file is decoded (checked whole by the preflight or read by a pass)."""
    counts = Counter()
    for name in ("check_image", "read_bands"):
        decode = getattr(source, name)
        monkeypatch.setattr(source, name, lambda path, *args, decode=decode, **kw:
                            counts.update([Path(path).name]) or decode(path, *args, **kw))
    return counts


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b) and len(a) == 24
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_one_pass_decodes_each_frame_once_and_equals_two_passes(tmp_path, shot_exr, decodes):
    events = []
    report = run_api(shot_exr, tmp_path / "one", on_event=events.append, **REUSE)
    assert report.tiles["skipped"] > 0, "the scenario must exercise temporal reuse"
    assert set(decodes.values()) == {2} and len(decodes) == 12  # the full preflight, then the pass
    done = [(e["stage"], e["frame"]) for e in events if e["event"] == "frame_done"]
    assert done[:4] == [("segment", 1001), ("refine", 1001), ("segment", 1002), ("refine", 1002)]
    assert set(report.stage_seconds) >= {"segment", "refine"}

    decodes.clear()
    run_api(shot_exr, tmp_path / "two", stage="segment", **REUSE)
    run_api(shot_exr, tmp_path / "two", stage="refine", **REUSE)
    assert set(decodes.values()) == {4}  # each step checks and reads every frame
    _assert_same(_files(tmp_path / "one"), _files(tmp_path / "two"))


def test_anchor_inside_the_range_runs_the_two_stages(tmp_path, shot_exr, decodes):
    """Propagation goes forward then backward from the anchor; refining needs frame order, so the stages run one
    after the other (the plate is read once more)."""
    events = []
    run_api(shot_exr, tmp_path / "out", on_event=events.append, anchor_frame=1004)
    stages = [e["stage"] for e in events if e["event"] == "frame_done"]
    assert stages == ["segment"] * 12 + ["refine"] * 12
    anchor = decodes.pop("plate.1004.exr")
    assert set(decodes.values()) == {3} and anchor == 4  # both propagation passes start on the anchor frame


class _Tracker:
    """The anchor's mask, except a solid frame (no unknown band) for the frames in `solid`."""

    subject_lost = False
    solid: set[int] = set()

    def start(self, image, mask):
        self.mask, self.i = mask.astype(np.float32), 0
        return self._prob()

    reanchor = start

    def step(self, image):
        self.i += 1
        return self._prob()

    def _prob(self):
        return np.ones_like(self.mask) if self.i in self.solid else self.mask


@pytest.fixture
def solid(monkeypatch) -> set[int]:
    register_tracker("solid", _Tracker)
    frames: set[int] = set()
    monkeypatch.setattr(_Tracker, "solid", frames)
    return frames


def test_frames_before_the_first_band_wait_for_it(tmp_path, shot_png, solid):
    solid.update({0, 1})  # frames 1001-1002 have no unknown band: no alpha may be written until one has
    events = []
    run_api(shot_png, tmp_path / "one", segment_backend="solid", on_event=events.append, **REUSE)
    done = [(e["stage"], e["frame"]) for e in events if e["event"] == "frame_done"]
    assert done[:5] == [("segment", 1001), ("segment", 1002), ("segment", 1003), ("refine", 1001),
                        ("refine", 1002)]
    run_api(shot_png, tmp_path / "two", segment_backend="solid", stage="segment", **REUSE)
    run_api(shot_png, tmp_path / "two", segment_backend="solid", stage="refine", **REUSE)
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert list(a) == list(b) and len(a) == 12 and all(np.array_equal(a[n], b[n]) for n in a)
    assert np.all(a["alpha/001001.png"] == 1.0)


def test_no_band_on_any_frame_is_the_clear_error_and_no_alpha(tmp_path, shot_png, solid):
    solid.update(range(6))
    with pytest.raises(VideomatteError, match="did not execute on any tiles") as caught:
        run_api(shot_png, tmp_path / "out", segment_backend="solid")
    assert caught.value.code == "empty_band" and "--trimap-band wider" in caught.value.hint
    assert len(list((tmp_path / "out" / "qc").glob("*.png"))) == 6
    assert not list((tmp_path / "out" / "alpha").glob("*"))


def test_terminal_bar_per_stage_side_by_side(shot_png, tmp_path):
    """`--progress bar` in a one-pass run: the plate check's bar, then a bar for each stage, all complete."""
    stream = io.StringIO()
    run_api(shot_png, tmp_path / "out", events=Events([Console(stream, bar=True)]))
    *bars, last = stream.getvalue().splitlines()
    assert [line.split()[0] for line in bars[-3:]] == ["preflight", "segment", "refine"]
    assert all(" 6/6 " in line for line in bars[-3:]) and last.startswith("alpha written to")


def test_refine_model_loads_while_the_tracker_starts(tmp_path, shot_png):
    """Loading a model takes seconds that do not depend on the frames: the refine backend is built on a thread of
    its own while the segment backend is built and tracks the first frame (each waits here until the other has
    started: one after the other, one would give up)."""
    import threading

    from videomatte_hq.refine.closed_form import ClosedFormBackend
    from videomatte_hq.registry import register_backend
    from videomatte_hq.segment.flow import FlowBackend

    started = {stage: threading.Event() for stage in ("segment", "tracking", "refine")}
    overlapped = []

    def begin(stage: str, *others: str) -> None:
        started[stage].set()
        overlapped.extend(started[other].wait(timeout=20) for other in others)

    class SlowFlow(FlowBackend):
        def __init__(self, config, warn) -> None:
            begin("segment", "refine")
            super().__init__(config, warn)

        def new_tracker(self):
            tracker = super().new_tracker()
            start = tracker.start

            def first_frame(image, mask):
                begin("tracking")
                return start(image, mask)

            tracker.start = first_frame
            return tracker

    class SlowClosedForm(ClosedFormBackend):
        def __init__(self, config, warn) -> None:
            begin("refine", "segment", "tracking")
            super().__init__(config, warn)

    register_backend("segment", "slow_flow", SlowFlow)
    register_backend("refine", "slow_closed_form", SlowClosedForm)
    report = run_api(shot_png, tmp_path / "out", segment_backend="slow_flow", refine_backend="slow_closed_form")
    assert report.status == "ok" and report.frames_written == 6
    assert overlapped == [True, True, True]


def test_a_refine_model_that_fails_to_load_stops_the_tracker(tmp_path, shot_png):
    """The error is the model's, and the tracker's thread, running ahead meanwhile, is stopped."""
    import threading

    from videomatte_hq.refine.closed_form import ClosedFormBackend
    from videomatte_hq.registry import register_backend

    class Broken(ClosedFormBackend):
        def __init__(self, config, warn) -> None:
            raise VideomatteError("checkpoint is truncated", code="model")

    register_backend("refine", "broken", Broken)
    with pytest.raises(VideomatteError, match="checkpoint is truncated"):
        run_api(shot_png, tmp_path / "out", refine_backend="broken")
    assert not [t for t in threading.enumerate() if t.name.startswith("videomatte-")]
    assert not list((tmp_path / "out" / "alpha").glob("*"))
