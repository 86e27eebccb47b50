"""Shared fixtures: generated shots on disk and a runner for the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from videomatte_hq.synthetic import make_example

ROOT = Path(__file__).resolve().parents[1]
collect_ignore = ["blender"]  # runs inside Blender's own venv, started by test_blender_addon.py
GOLDEN = ROOT / "tests" / "golden" / "mematte_vits"  # copied from ../shared/golden (tests/golden/README.md)
# One numba cache for every test process: pymatting's first compile costs ~40 s, later imports <1 s.
# The default backends need model files; these tests use the weight-free ones unless they say otherwise.
WEIGHT_FREE = ("--segment-backend", "flow", "--refine-backend", "closed_form")
# Tests that build ultralytics models import it in-process: keep it offline as the engine does.
os.environ.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="0", YOLO_VERBOSE="0",
                  YOLO_CONFIG_DIR=str(ROOT / ".cache" / "ultralytics"))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))  # in-process runs share it too
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_api(shot: dict, out: Path, on_event=None, cancel=None, events=None, **settings):
    """The engine in-process (videomatte_hq.run) with the weight-free backends: for tests where a subprocess is
    not what is tested. `settings` are flat config keys."""
    from videomatte_hq import run
    from videomatte_hq.config import build_config

    config = build_config(None, {"input": str(shot["input"]), "anchor_mask": str(shot["anchor"]),
                                 "output_dir": str(out), "segment_backend": "flow", "refine_backend": "closed_form",
                                 "progress": "none", **settings})
    return run(config, on_event=on_event, cancel=cancel, events=events)


def register_tracker(name: str, tracker) -> None:
    """A segment backend `name` whose trackers are `tracker()`: a test's stand-in for a model."""
    from videomatte_hq.registry import register_backend

    class Backend:
        def __init__(self, config, warn) -> None:
            pass

        @staticmethod
        def model_files(config) -> list:
            return []

        def new_tracker(self):
            return tracker()

    Backend.name = name
    register_backend("segment", name, Backend)


def run_cli(*args: str, check: bool = False, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "videomatte_hq", *map(str, args)], capture_output=True,
                          text=True, env={**ENV, **(env or {})}, cwd=cwd, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"CLI failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def events_of(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def read_pixels(path: Path) -> tuple[np.ndarray, oiio.ImageSpec]:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
    inp.close()
    return np.asarray(pixels).reshape(spec.height, spec.width, spec.nchannels), spec


def encode_video(path: Path, frames: list[np.ndarray], fmt: str | None = None, **options: str) -> None:
    """uint8 RGB frames -> near-lossless H.264 in the container the suffix (or `fmt`) names, with PyAV; `options`
    are libx264's."""
    import av

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "10", "g": "4", **options})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="session")
def shot_exr(tmp_path_factory) -> dict[str, str]:
    """12 linear EXR frames 1001-1012 (96x64), anchor.png, ground truth."""
    return make_example(tmp_path_factory.mktemp("shot_exr"), width=96, height=64, frames=12, fmt="exr")


@pytest.fixture(scope="session")
def shot_png(tmp_path_factory) -> dict[str, str]:
    """6 sRGB PNG frames 1001-1006 (80x48)."""
    return make_example(tmp_path_factory.mktemp("shot_png"), width=80, height=48, frames=6, fmt="png")


@pytest.fixture
def shot_copy(tmp_path, shot_png) -> dict[str, Path]:
    """A private copy of the PNG shot that a test may damage."""
    src = Path(shot_png["input"]).parent
    dst = tmp_path / "plate"
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return {"dir": dst, "input": dst / "plate.####.png", "anchor": Path(shot_png["anchor"])}


@pytest.fixture(scope="session")
def mematte_checkpoint(tmp_path_factory) -> Path:
    """A MEMatte_ViTS_DIM.pth in the official layout, weights by the golden data's rule."""
    import torch

    from mematte_rule import rule_state_dict

    path = tmp_path_factory.mktemp("ckpt") / "MEMatte_ViTS_DIM.pth"
    torch.save({"model": {k: v.float() if v.is_floating_point() else v for k, v in rule_state_dict().items()}}, path)
    return path


@pytest.fixture(scope="session")
def sam2_files(tmp_path_factory) -> dict[str, Path]:
    """sam2_t.pt files in ultralytics' format: random init (the model loses the subject on every propagated
    frame: object score <= 0), and the same with the object-score head biased so the subject stays seen."""
    import torch
    from ultralytics.models.sam.build import build_sam2_t

    torch.manual_seed(0)
    state = {k: v.half() if v.is_floating_point() else v for k, v in build_sam2_t(checkpoint=None).state_dict().items()}
    root = tmp_path_factory.mktemp("sam2")
    files = {"lost": root / "lost" / "sam2_t.pt", "seen": root / "seen" / "sam2_t.pt"}
    files["lost"].parent.mkdir()
    torch.save({"model": state}, files["lost"])
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] = torch.full_like(
        state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"], 20.0)
    files["seen"].parent.mkdir()
    torch.save({"model": state}, files["seen"])
    return files


def person(height: int = 240, width: int = 320, cx: int = 160, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A standing figure (head, torso, arms, legs; 8 heads tall) over a noisy backdrop: RGB uint8 and its mask."""
    rng = np.random.default_rng(shift)
    image = np.clip(np.array([190, 180, 170]) + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    u, top, cx = 26.0, 20, cx + shift
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (cx, int(top + u / 2)), (int(u * 0.38), int(u * 0.5)), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (int(cx - 0.12 * u), int(top + 0.9 * u)), (int(cx + 0.12 * u), int(top + 1.3 * u)), 1, -1)
    torso = [[cx - u, top + 1.3 * u], [cx + u, top + 1.3 * u], [cx + 0.75 * u, top + 4.1 * u],
             [cx - 0.75 * u, top + 4.1 * u]]
    cv2.fillPoly(mask, [np.array(torso, np.int32)], 1)
    for s in (-1, 1):
        cv2.line(mask, (int(cx + s * 0.95 * u), int(top + 1.5 * u)), (int(cx + s * 1.25 * u), int(top + 4.3 * u)), 1,
                 int(0.32 * u))
        cv2.line(mask, (int(cx + s * 0.4 * u), int(top + 4.0 * u)), (int(cx + s * 0.55 * u), int(top + 7.9 * u)), 1,
                 int(0.42 * u))
    image[mask == 1] = (70, 50, 40)
    return image, mask


@pytest.fixture(scope="session")
def black_opening_clip(tmp_path_factory):
    """3 black frames, then 5 frames of a figure stepping right."""
    path = tmp_path_factory.mktemp("clip") / "walk.mp4"
    frames = [np.zeros((240, 320, 3), np.uint8)] * 3 + [person(shift=2 * i)[0] for i in range(5)]
    encode_video(path, frames)
    return path
