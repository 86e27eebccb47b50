"""`segment_backend: sam2` through real ultralytics SAM2 classes, with generated sam2_t weights, offline."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT, events_of, read_pixels, run_cli
from videomatte_hq.io.images import write_image

NETGUARD = {"PYTHONPATH": str(ROOT / "tests" / "netguard")}


def _anchor(shot, frame: int, path: Path) -> Path:
    alpha, _ = read_pixels(Path(shot["input"]).parent.parent / "alpha_gt" / f"{frame}.png")
    write_image(path, (alpha[..., 0] >= 0.5).astype(np.uint8) * 255, "uint8", ("Y",))
    return path


def _run(tmp_path, shot, model: Path, *extra):
    log = tmp_path / "net.log"
    out = tmp_path / "out"
    proc = run_cli("-i", shot["input"], "-o", out, "--segment-backend", "sam2", "--sam-model", model, "--imgsz", 256,
                   "--refine-backend", "closed_form", "--progress", "jsonl", *extra,
                   env={**NETGUARD, "NETGUARD_LOG": str(log)})
    assert not log.exists(), f"network access attempted:\n{log.read_text()}"
    return proc, out


def test_mid_anchor_backward_pass_and_extra_anchor(tmp_path, shot_png, sam2_files):
    anchor = _anchor(shot_png, 1003, tmp_path / "a1003.png")
    extra = _anchor(shot_png, 1005, tmp_path / "a1005.png")
    proc, out = _run(tmp_path, shot_png, sam2_files["seen"], "--anchor-mask", anchor, "--anchor-frame", 1003,
                     "--extra-anchor", f"1005={extra}")
    assert proc.returncode == 0, proc.stderr
    order = [e["frame"] for e in events_of(proc) if e["event"] == "frame_done" and e["stage"] == "segment"]
    assert order == [1003, 1004, 1005, 1006, 1002, 1001], "forward from the anchor, then backward"
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["backends"]["segment"]["name"] == "sam2" and summary["subject_lost_frames"] == []
    assert summary["backends"]["segment"]["model_files"][0]["path"] == str(sam2_files["seen"])

    trimaps = {f: read_pixels(out / "qc" / f"trimap.{f:06d}.png")[0][..., 0] for f in range(1001, 1007)}
    assert all(t.shape == (48, 80) for t in trimaps.values())
    kernel = np.ones((5, 5), np.uint8)  # SAM's logits are at imgsz/4: edges may move by ~2 px here
    for frame, path in ((1003, anchor), (1005, extra)):  # prompted frames reproduce their anchor
        mask = (read_pixels(path)[0][..., 0] >= 0.5).astype(np.uint8)
        inside, outside = cv2.erode(mask, kernel) == 1, cv2.erode(1 - mask, kernel) == 1
        assert (trimaps[frame][inside] == 1).all() and (trimaps[frame][outside] == 0).all()
    for frame in (1001, 1002, 1004, 1006):  # random weights: soft logits near 0 -> everything unknown
        assert (trimaps[frame] == 128 / 255).all()


def test_probabilities_from_logits_at_plate_size(sam2_files):
    from videomatte_hq.config import build_config
    from videomatte_hq.segment.sam2 import SAM2Backend

    config = build_config(overrides={"model": str(sam2_files["seen"]), "imgsz": 256, "device": "cpu"})
    tracker = SAM2Backend(config, print).new_tracker()
    rng = np.random.default_rng(0)
    image = (rng.random((90, 200, 3)) * 255).astype(np.uint8)  # the 8-bit copy: frame_input "u8"
    mask = np.zeros((90, 200), np.float32)
    mask[20:70, 50:120] = 1
    first = tracker.start(image, mask)
    assert first.shape == (90, 200) and first.dtype == np.float32
    # The mask prompt comes back as logits +-10 at imgsz/4, upsampled: the anchor, edges within 2 px.
    wrong = (first > 0.5) != (mask > 0.5)
    edge = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5))) != cv2.erode(mask.astype(np.uint8), np.ones((5, 5)))
    assert not wrong[~edge].any()
    assert np.isclose(first.max(), 1 / (1 + np.exp(-10)), atol=1e-4)
    step = tracker.step(image)
    assert step.shape == (90, 200) and 0 <= step.min() and step.max() <= 1 and not tracker.subject_lost
    assert np.unique(step).size > 100, "soft probabilities, not a thresholded mask"


def _clip(seed: int, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """`count` random 8-bit RGB frames (the tracker's input) and an anchor mask for them."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((64, 96), np.float32)
    mask[16:48, 30:70] = 1
    return [(rng.random((64, 96, 3)) * 255).astype(np.uint8) for _ in range(count)], mask


def test_passes_share_one_loaded_model_and_start_afresh(sam2_files, monkeypatch):
    """The backward pass tracks with the model the forward pass loaded, and gives what a fresh load gives: no
    state of the first pass leaks into the second."""
    from ultralytics.models.sam import SAM2VideoPredictor

    from videomatte_hq.config import build_config
    from videomatte_hq.segment.sam2 import SAM2Backend

    builds = []
    get_model = SAM2VideoPredictor.get_model
    monkeypatch.setattr(SAM2VideoPredictor, "get_model", lambda self: builds.append(1) or get_model(self))
    config = build_config(overrides={"model": str(sam2_files["seen"]), "imgsz": 256, "device": "cpu"})
    frames, mask = _clip(1, 3)

    def one_pass(tracker) -> list[np.ndarray]:
        return [tracker.start(frames[0], mask)] + [tracker.step(f) for f in frames[1:]]

    backend = SAM2Backend(config, print)
    first, second = backend.new_tracker(), backend.new_tracker()
    model = backend.video.model
    assert len(builds) == 1 and first.session.predictor.model is second.session.predictor.model is model
    one_pass(first)
    reused = one_pass(second)
    fresh = one_pass(SAM2Backend(config, print).new_tracker())
    assert len(builds) == 2
    assert all(np.array_equal(a, b) for a, b in zip(reused, fresh, strict=True))


def test_image_encoder_runs_once_a_frame_with_ultralytics_results(sam2_files, monkeypatch):
    """A prompted frame (the anchor, an extra anchor) needs the image features twice (its mask, its memory):
    computed once, given to the predictor, the probabilities are exactly those of ultralytics' own path."""
    from videomatte_hq.config import build_config
    from videomatte_hq.segment.sam2 import SAM2Backend
    from videomatte_hq.ultralytics_models import VideoSession

    config = build_config(overrides={"model": str(sam2_files["seen"]), "imgsz": 256, "device": "cpu"})
    backend = SAM2Backend(config, print)
    runs = []
    forward_image = backend.video.model.forward_image
    monkeypatch.setattr(backend.video.model, "forward_image", lambda im: runs.append(1) or forward_image(im))
    frames, mask = _clip(2, 4)

    def one_pass() -> tuple[list[np.ndarray], list[int]]:
        tracker, probs, counts = backend.new_tracker(), [], []
        for i, call in enumerate(("start", "step", "reanchor", "step")):
            runs.clear()
            probs.append(getattr(tracker, call)(frames[i], *([mask] if call != "step" else [])))
            counts.append(len(runs))
        return probs, counts

    ours, counts = one_pass()
    assert counts == [1, 1, 1, 1]
    monkeypatch.setattr(VideoSession, "_features", lambda self, im: None)  # ultralytics encodes where it needs to
    theirs, counts = one_pass()
    assert counts == [2, 1, 2, 1]
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_checkpoints_load_memory_mapped_with_ultralytics_weights(sam2_files, tmp_path, monkeypatch):
    """SAM2's checkpoint is read memory-mapped (zip format) or whole (torch's legacy format); either way the model
    holds exactly the weights ultralytics' own load gives."""
    import torch
    from ultralytics import SAM

    from videomatte_hq.ultralytics_models import load_model

    theirs = SAM(str(sam2_files["seen"])).model.state_dict()
    calls = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, **kw: calls.append(kw.get("mmap", False)) or load(f, **kw))
    legacy = tmp_path / "legacy" / "sam2_t.pt"
    legacy.parent.mkdir()
    torch.save(torch.load(sam2_files["seen"]), legacy, _use_new_zipfile_serialization=False)
    for path, mapped in ((sam2_files["seen"], [True]), (legacy, [True, False])):
        calls.clear()
        ours = load_model(path, "sam2_t.pt").model.state_dict()
        assert calls == mapped
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_image_encoder_graphed_on_cuda_only(sam2_files):
    """On the CPU the encoder is the model's own forward, not a graph (`cuda_graphs: false` on CUDA: the CUDA-only
    test below)."""
    from videomatte_hq.config import build_config
    from videomatte_hq.segment.sam2 import SAM2Backend

    config = build_config(overrides={"model": str(sam2_files["seen"]), "imgsz": 256, "device": "cpu"})
    assert SAM2Backend(config, print).video.graphed is None


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graphed_encoder_gives_eager_probabilities_beside_a_busy_thread(sam2_files):
    """The graph is captured while another thread launches work on the device (the refine of a one-pass run) and
    replayed for every frame; the probabilities are the eager ones, for two input sizes."""
    import threading

    import torch

    from videomatte_hq.config import build_config
    from videomatte_hq.segment.sam2 import SAM2Backend
    from videomatte_hq.torch_device import CudaGraphed

    def track(graphs: bool, imgsz: int) -> list[np.ndarray]:
        config = build_config(overrides={"model": str(sam2_files["seen"]), "imgsz": imgsz, "device": "cuda",
                                         "cuda_graphs": graphs})
        backend = SAM2Backend(config, print)
        assert isinstance(backend.video.graphed, CudaGraphed) == graphs
        tracker = backend.new_tracker()
        return [torch.as_tensor(p).cpu().numpy()
                for p in [tracker.start(frames[0], mask)] + [tracker.step(f) for f in frames[1:]]]

    frames, mask = _clip(3, 4)
    stop = threading.Event()

    def busy() -> None:
        x = torch.rand(512, 512, device="cuda")
        while not stop.is_set():
            x = (x @ x).softmax(-1)
        torch.cuda.synchronize()

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        graphed = {imgsz: track(True, imgsz) for imgsz in (256, 320)}
    finally:
        stop.set()
        worker.join()
    for imgsz, probs in graphed.items():
        eager = track(False, imgsz)
        assert all(np.array_equal(a, b) for a, b in zip(probs, eager, strict=True))


def test_subject_lost_frames_warned_and_recorded(tmp_path, shot_png, sam2_files):
    proc, out = _run(tmp_path, shot_png, sam2_files["lost"], "--anchor-mask", shot_png["anchor"],
                     "--frame-end", 1004)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["subject_lost_frames"] == [1002, 1003, 1004]
    warning = [e["message"] for e in events_of(proc) if e["event"] == "warning"]
    assert any("lost the subject on frames 1002-1004" in w and "--extra-anchor" in w for w in warning)


def test_missing_model_and_bad_name_fail_in_preflight(tmp_path, shot_png):
    out = tmp_path / "out"
    proc = run_cli("-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "-o", out,
                   "--refine-backend", "closed_form", env={"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root")})
    assert proc.returncode == 3
    assert f"SAM2 checkpoint not found: {tmp_path / 'root' / 'third_party' / 'ultralytics' / 'sam2_l.pt'}" in proc.stderr
    assert "videomatte-hq models install sam2_l --from FILE" in proc.stderr and not out.exists()
    assert "or, without model files: --segment-backend flow (weight-free" in proc.stderr
    proc = run_cli("-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "-o", out,
                   env={"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root")})  # both default model files missing
    assert proc.returncode == 3 and "SAM2 checkpoint not found" in proc.stderr
    assert "MEMatte checkpoint not found" in proc.stderr and "models install mematte" in proc.stderr
    assert "or, without model files: --segment-backend flow --refine-backend closed_form" in proc.stderr
    proc = run_cli("-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "-o", out,
                   "--sam-model", tmp_path / "my_sam.pt", "--refine-backend", "closed_form")
    assert proc.returncode == 3 and "'my_sam.pt' is not one ultralytics recognises" in proc.stderr


def test_models_install_verifies_sam2_strictly(tmp_path, sam2_files):
    env = {"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root"), **NETGUARD}
    run_cli("models", "install", "sam2_t", "--from", sam2_files["seen"], env=env, check=True)
    assert (tmp_path / "root" / "third_party" / "ultralytics" / "sam2_t.pt").is_file()
    import torch

    state = torch.load(sam2_files["seen"], weights_only=False)
    del state["model"]["sam_mask_decoder.pred_obj_score_head.layers.2.bias"]
    bad = tmp_path / "sam2_s.pt"
    torch.save(state, bad)
    proc = run_cli("models", "install", "sam2_s", "--from", bad, env=env)
    assert proc.returncode == 3 and f"{bad} is not a valid sam2_s.pt checkpoint" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2  # error + fix, not torch's paragraphs


def test_sam3_alias_without_sam3_support_is_a_clear_error(tmp_path, shot_png):
    import importlib.util

    if importlib.util.find_spec("timm") is not None:
        pytest.skip("this environment can run SAM3 (timm installed); the error path is not reachable")
    out = tmp_path / "out"
    proc = run_cli("-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "-o", out,
                   "--segment-backend", "ultralytics_sam3", "--refine-backend", "closed_form")
    assert proc.returncode == 2 and "segment_backend ultralytics_sam3 needs SAM3 support" in proc.stderr
    assert "timm" in proc.stderr and not out.exists()
