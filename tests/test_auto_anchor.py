"""Auto-anchor on video inputs: black-opening probe, weight-free person detection (HOG + GrabCut)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import WEIGHT_FREE, encode_video, events_of, person, read_pixels, run_cli


def test_black_opening_shifts_start_and_person_is_found(tmp_path, black_opening_clip):
    out = tmp_path / "out"
    proc = run_cli(*WEIGHT_FREE, "-i", black_opening_clip, "-o", out, "--progress", "jsonl",
                   env={"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root")})  # no YOLO file installed there
    assert proc.returncode == 0, proc.stderr
    warnings = [e["message"] for e in events_of(proc) if e["event"] == "warning"]
    assert any(w.startswith("auto-anchor YOLO checkpoint not found") and "uses the weight-free hog_grabcut detector"
               in w for w in warnings)

    summary = json.loads((out / "run_summary.json").read_text())
    assert (summary["requested_frame_start"], summary["frame_start"], summary["frame_end"]) == (0, 3, 7)
    auto = summary["auto_anchor"]
    assert auto["method"] == "hog_grabcut" and auto["probe_frame"] == 3 and auto["dark_frames_skipped"] == [0, 1, 2]
    assert auto["mask_from"] == "grabcut" and auto["score"] >= 1.0  # above the documented HOG confidence
    assert summary["anchor"]["frame"] == 3 and summary["anchor"]["path"] == str(out / "anchor_mask.auto.png")
    assert sorted(p.name for p in (out / "alpha").iterdir()) == [f"{f:06d}.png" for f in range(3, 8)]

    found = read_pixels(out / "anchor_mask.auto.png")[0][..., 0] > 0.5
    truth = person(shift=0)[1] == 1
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.6, f"auto-anchor mask IoU with the figure {iou:.2f}"
    x0, y0, x1, y1 = auto["box"]
    ys, xs = np.nonzero(truth)
    assert x0 <= xs.mean() <= x1 and y0 <= ys.mean() <= y1


def test_all_dark_opening_is_a_clear_error(tmp_path):
    path = tmp_path / "black.mp4"
    encode_video(path, [np.zeros((64, 96, 3), np.uint8)] * 4)
    proc = run_cli(*WEIGHT_FREE, "-i", path, "-o", tmp_path / "out", "--auto-anchor-method", "hog_grabcut")
    assert proc.returncode == 2
    assert "auto-anchor: frames 0-3 are all darker than auto_anchor_min_luma 0.04" in proc.stderr
    assert "--anchor-mask" in proc.stderr


def test_no_person_found_names_frame_and_fix(tmp_path):
    path = tmp_path / "empty.mp4"
    encode_video(path, [np.full((128, 160, 3), 120, np.uint8)] * 3)
    proc = run_cli(*WEIGHT_FREE, "-i", path, "-o", tmp_path / "out", "--auto-anchor-method", "hog_grabcut")
    assert proc.returncode == 2 and "auto-anchor (hog_grabcut) found no person on frame 0" in proc.stderr


def test_auto_anchor_and_anchor_mask_conflict(tmp_path, shot_png):
    proc = run_cli(*WEIGHT_FREE, "-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "--auto-anchor",
                   "-o", tmp_path / "out")
    assert proc.returncode == 2 and "--auto-anchor and --anchor-mask both given" in proc.stderr


def _yolo(path, sees_people: bool):
    """yolo11n-seg built by ultralytics from its own yaml (generated weights); `sees_people` biases the class
    head so every anchor scores "person" (boxes/masks then come from the untrained box and mask heads)."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)  # the untrained heads' boxes and masks must not depend on which tests ran before
    model = YOLO("yolo11n-seg.yaml")
    if sees_people:
        with torch.no_grad():
            for branch in model.model.model[-1].cv3:
                branch[-1].bias.fill_(-10.0)
                branch[-1].bias[0] = 10.0
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    return path


def test_auto_picks_installed_yolo_offline(tmp_path, black_opening_clip):
    """With yolo11n-seg.pt installed, `auto` uses it (through real ultralytics, offline). Generated weights
    detect nobody, which must be the clear no-person error on the first usable frame."""
    from test_sam2 import NETGUARD

    log = tmp_path / "net.log"
    env = {"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root"), **NETGUARD, "NETGUARD_LOG": str(log)}
    run_cli("models", "install", "yolo11n-seg", "--from", _yolo(tmp_path / "w" / "yolo11n-seg.pt", False), env=env,
            check=True)
    proc = run_cli(*WEIGHT_FREE, "-i", black_opening_clip, "-o", tmp_path / "out", env=env)
    assert proc.returncode == 2 and "auto-anchor (yolo) found no person on frame 3" in proc.stderr
    assert not log.exists(), log.read_text()


@pytest.mark.parametrize("segment", ["flow", "sam2"])
def test_yolo_person_box_becomes_the_anchor(tmp_path, black_opening_clip, sam2_files, segment):
    """A detection goes through: its -seg polygon (flow backend) or SAM's box-prompted mask (sam2 backend)
    becomes anchor_mask.auto.png, and the run continues from the probed frame."""
    weights = _yolo(tmp_path / "w" / "yolo11n-seg.pt", True)
    backends = ["--segment-backend", segment, "--refine-backend", "closed_form"]
    if segment == "sam2":
        backends += ["--sam-model", str(sam2_files["seen"]), "--imgsz", "256"]
    out = tmp_path / "out"
    cfg = tmp_path / "untrained.yaml"  # generated weights give small boxes: the mechanism, not the detector
    cfg.write_text("segmentation:\n  auto_anchor_min_height: 0.0\n  auto_anchor_min_confidence: 0.0\n")
    proc = run_cli(*backends, "-i", black_opening_clip, "-o", out, "--auto-anchor-method", "yolo",
                   "--auto-anchor-model", weights, "--trimap-band", "maximum", "--config", cfg)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["auto_anchor"]["method"] == "yolo" and summary["frame_start"] == 3
    assert summary["auto_anchor"]["score"] > 0.9  # the biased class head
    assert summary["auto_anchor"]["mask_from"] == {"flow": "yolo_seg", "sam2": "sam"}[segment]
    x0, y0, x1, y1 = summary["auto_anchor"]["box"]
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    mask = read_pixels(out / "anchor_mask.auto.png")[0][..., 0] > 0.5
    assert mask.any() and not mask.all()


def test_implausible_detections_are_refused_with_the_reason():
    """The spoon that hog_grabcut took for a person on the public hair_pan clip (960x540, as an mp4): box
    [684, 80, 757, 226], SVM margin 0.29; and the figure of this file's clip: margin 2.38, full height."""
    from videomatte_hq.auto_anchor import Detection, implausible
    from videomatte_hq.config import build_config

    seg = build_config().segmentation
    spoon_mask = np.zeros((540, 960), np.float32)
    spoon_mask[90:220, 700:740] = 1
    spoon = Detection([684, 80, 757, 226], 0.29, spoon_mask, "grabcut")
    assert "confidence 0.29 is below 1.0" in implausible(spoon, "hog_grabcut", 540, seg)
    spoon.score = 1.5  # a confident detection of that box, in a 1080-line plate: too small for the subject
    assert "146 px high, under 25% of the frame height (1080 px)" in implausible(spoon, "hog_grabcut", 1080, seg)
    figure = Detection([93, 0, 224, 240], 2.38, person()[1].astype(np.float32), "grabcut")
    assert implausible(figure, "hog_grabcut", 240, seg) is None
    figure.mask = np.zeros_like(figure.mask)
    figure.mask[:20, 93:224] = 1
    assert "fills 8% of its box" in implausible(figure, "hog_grabcut", 240, seg)
    assert implausible(Detection([0, 0, 32, 32], 0.2, np.ones((240, 320), np.float32), "sam"), "yolo", 240,
                       build_config(overrides={"auto_anchor_min_confidence": 0.1,
                                               "auto_anchor_min_height": 0.1}).segmentation) is None
