"""`refine_backend: mematte` through the real CLI: path policy, preflight, model files, tiled runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import read_pixels, run_cli
from videomatte_hq.layout import HASH_ATTR, OutputLayout
from videomatte_hq.io.images import read_attribute


def _base(shot, out):
    return ["-i", shot["input"], "--anchor-mask", shot["anchor"], "-o", out, "--segment-backend", "flow",
            "--progress", "none"]


def test_external_checkpoint_needs_permission(tmp_path, shot_png, mematte_checkpoint):
    out = tmp_path / "out"
    proc = run_cli(*_base(shot_png, out), "--mematte-checkpoint", mematte_checkpoint)
    assert proc.returncode == 3 and "External MEMatte paths are not allowed for this tool" in proc.stderr
    assert "--allow-external-paths" in proc.stderr and not out.exists()


def test_missing_default_checkpoint_fails_before_processing(tmp_path, shot_png):
    out = tmp_path / "out"
    proc = run_cli(*_base(shot_png, out), env={"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root")})
    assert proc.returncode == 3
    expected = tmp_path / "root" / "third_party" / "MEMatte" / "checkpoints" / "MEMatte_ViTS_DIM.pth"
    assert f"MEMatte checkpoint not found: {expected}" in proc.stderr
    assert "videomatte-hq models install mematte --from FILE" in proc.stderr
    assert not out.exists(), "preflight must fail before anything is written"


def test_models_install_list_verify_then_default_location_runs(tmp_path, shot_png, mematte_checkpoint):
    env = {"VIDEOMATTE_HQ_ROOT": str(tmp_path / "root")}
    listed = run_cli("models", "list", env=env, check=True)
    assert "MISSING (https://github.com/linyiheng123/MEMatte" in listed.stdout  # where to download it
    run_cli("models", "install", "mematte", "--from", mematte_checkpoint, env=env, check=True)
    listed = run_cli("models", "list", env=env, check=True)
    assert "present sha256=" in listed.stdout
    assert "mematte\tok\tsha256=" in run_cli("models", "verify", env=env, check=True).stdout

    out = tmp_path / "out"
    run_cli(*_base(shot_png, out), "--frame-end", 1003, "--tile-size", 64, "--tile-overlap", 16,
            "--batch-size", 4, env=env, check=True)
    summary = json.loads((out / "run_summary.json").read_text())
    record = summary["backends"]["refine"]
    assert record["name"] == "mematte" and len(record["model_files"][0]["sha256"]) == 64
    assert summary["tiles"]["refined"] > 3
    alpha, _ = read_pixels(out / "alpha" / "001003.png")
    trimap, _ = read_pixels(out / "qc" / "trimap.001003.png")
    unknown = np.isclose(trimap, 128 / 255)
    assert np.isfinite(alpha).all() and (alpha[trimap == 1] == 1).all() and (alpha[trimap == 0] == 0).all()
    assert np.unique(np.round(alpha[unknown], 3)).size > 10, "the band holds the model's soft values"


def test_corrupt_checkpoint_install_refused(tmp_path):
    bad = tmp_path / "MEMatte_ViTS_DIM.pth"
    bad.write_bytes(b"not a checkpoint")
    proc = run_cli("models", "install", "mematte", "--from", bad, env={"VIDEOMATTE_HQ_ROOT": str(tmp_path / "r")})
    assert proc.returncode == 3 and f"{bad} is not a valid MEMatte checkpoint (UnpicklingError" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2 and "weights_only" not in proc.stderr
    assert not (tmp_path / "r" / "third_party").exists()


def test_empty_band_everywhere_is_a_clear_error(tmp_path, shot_png, mematte_checkpoint):
    out = tmp_path / "out"
    base = _base(shot_png, out) + ["--mematte-checkpoint", mematte_checkpoint, "--allow-external-paths"]
    run_cli(*base, "--stage", "segment", check=True)
    layout = OutputLayout(out, "png16")
    for frame in range(1001, 1007):  # binary trimaps (no unknown band), as stage 1 could give for a hard matte
        seg_hash = read_attribute(layout.trimap_path(frame), HASH_ATTR)
        layout.write_trimap(frame, np.where(layout.read_trimap(frame) >= 128, 255, 0).astype(np.uint8), seg_hash)
    proc = run_cli(*base, "--stage", "refine")
    assert proc.returncode == 2
    assert "MEMatte did not execute on any tiles (trimap unknown band was empty" in proc.stderr
    assert "--trimap-band wider|maximum" in proc.stderr


def test_repo_dir_policy_and_weights_in_resume_hash(tmp_path, shot_png, mematte_checkpoint):
    import torch

    repo = tmp_path / "MEMatte"
    (repo / "checkpoints").mkdir(parents=True)
    shutil.copyfile(mematte_checkpoint, repo / "checkpoints" / "MEMatte_ViTS_DIM.pth")
    out = tmp_path / "out"
    args = [*_base(shot_png, out), "--frame-end", 1002, "--tile-size", 64, "--tile-overlap", 16]
    proc = run_cli(*args, "--mematte-repo-dir", repo)
    assert proc.returncode == 3 and "External MEMatte paths are not allowed for this tool" in proc.stderr
    proc = run_cli(*args, "--mematte-repo-dir", tmp_path / "nope", "--allow-external-paths")
    assert proc.returncode == 3 and "MEMatte repo dir not found" in proc.stderr

    run_cli(*args, "--mematte-repo-dir", repo, "--allow-external-paths", check=True)
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["backends"]["refine"]["model_files"][0]["path"] == str(repo / "checkpoints" / "MEMatte_ViTS_DIM.pth")
    before = read_pixels(out / "alpha" / "001002.png")[0]

    # Other weights, same settings: --resume must not keep alphas the old weights made.
    state = torch.load(mematte_checkpoint, weights_only=True)
    state["model"]["decoder.matting_head.matting_convs.0.weight"] *= -1
    other = tmp_path / "other" / "MEMatte_ViTS_DIM.pth"
    other.parent.mkdir()
    torch.save(state, other)
    run_cli(*args, "--mematte-checkpoint", other, "--allow-external-paths", "--resume", check=True)
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["frames_written"] == 2
    assert not np.array_equal(before, read_pixels(out / "alpha" / "001002.png")[0])


def test_frame_in_one_tile_equals_untiled_mematte(mematte_checkpoint):
    """The tiling layer adds nothing when one tile holds the frame: same alpha as one call of the model."""
    import torch

    from videomatte_hq.config import build_config
    from videomatte_hq.refine.mematte.backend import MEMatteBackend
    from videomatte_hq.refine.mematte.model import postprocess
    from videomatte_hq.io.colour import image_to_u8
    from videomatte_hq.refine.tiling import TiledRefiner
    from videomatte_hq.trimap import UNKNOWN, trimap_to_unit

    config = build_config(overrides={"mematte_checkpoint": str(mematte_checkpoint), "allow_external_paths": True,
                                     "device": "cpu"})
    backend = MEMatteBackend(config, print)
    rng = np.random.default_rng(1)
    image = rng.random((72, 100, 3), dtype=np.float32)
    trimap = np.zeros((72, 100), np.uint8)
    trimap[:, 50:] = 255
    trimap[:, 42:58] = UNKNOWN
    tiled, refined, _ = TiledRefiner(backend, 128, 32, 4, False, 1.0, 0.0).refine_frame(
        image, image_to_u8(image), trimap, None)
    unit = torch.from_numpy(trimap_to_unit(trimap))[None, None]
    with torch.inference_mode():
        direct = postprocess(backend.model(torch.from_numpy(image).permute(2, 0, 1)[None], unit), unit)[0, 0].numpy()
    unknown = trimap == UNKNOWN
    assert refined == 1 and np.array_equal(tiled[unknown], direct[unknown])
    assert np.unique(direct[unknown]).size > 100


def test_full_frame_auto_decision(mematte_checkpoint, monkeypatch):
    """refine_mode auto: the full frame only on CUDA, up to about 4K, where 80 % of the free memory holds it."""
    import torch

    from videomatte_hq.config import build_config
    from videomatte_hq.refine.mematte.backend import MEMatteBackend

    config = build_config(overrides={"mematte_checkpoint": str(mematte_checkpoint), "allow_external_paths": True,
                                     "device": "cpu"})
    backend = MEMatteBackend(config, print)
    assert not backend.full_frame_fits(2160, 3840) and backend.default_batch == 4  # CPU: tiles
    backend.device, backend.precision = torch.device("cuda"), "fp16"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (40 << 30, 80 << 30))
    assert backend.full_frame_fits(2160, 3840)  # 4K fp16: about 7 GiB
    assert not backend.full_frame_fits(4320, 7680)  # 8K: tiles
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 << 30, 16 << 30))
    assert not backend.full_frame_fits(2160, 3840)  # a small or busy GPU: tiles


def test_cuda_batch_is_the_largest_that_fits():
    """The CUDA default batch: the largest of 32, 16, 8, 4 tiles whose activations take half the free memory."""
    from videomatte_hq.refine.mematte.backend import cuda_batch

    gib = 1 << 30
    assert cuda_batch(75 * gib, 480) == 32  # an idle H100
    assert cuda_batch(10 * gib, 480) == 16  # 16 tiles: about 3.8 GiB
    assert cuda_batch(5 * gib, 480) == 8
    assert cuda_batch(6 * gib, 960) == 4  # larger tiles, fewer a call; never fewer than 4
    assert cuda_batch(1 * gib, 480) == 4


def test_device_canvas_gives_the_host_canvas_alpha(mematte_checkpoint):
    """MEMatte's tiles gathered, refined and blended on its device (refine/device_tiles.py, used on CUDA) give the
    alpha of the numpy path, with tiles refined in several batches and tiles reused from the last frame."""
    from videomatte_hq.config import build_config
    from videomatte_hq.io.colour import image_to_u8
    from videomatte_hq.layout import quantize
    from videomatte_hq.refine.device_tiles import DeviceCanvas
    from videomatte_hq.refine.mematte.backend import MEMatteBackend
    from videomatte_hq.refine.tiling import FrameMemory, HostCanvas, TiledRefiner
    from videomatte_hq.trimap import UNKNOWN

    config = build_config(overrides={"mematte_checkpoint": str(mematte_checkpoint), "allow_external_paths": True,
                                     "device": "cpu"})
    backend = MEMatteBackend(config, print)

    class OnDevice:  # the CUDA choice, made on the CPU: the device canvas over the same model
        refine = backend.refine

        @staticmethod
        def tile_canvas(image, trimap, overlap):
            return DeviceCanvas(backend.forward_tiles, backend.device, image, trimap, overlap)

    rng = np.random.default_rng(2)
    image = rng.random((130, 190, 3), dtype=np.float32)
    trimap = np.zeros((130, 190), np.uint8)
    trimap[30:110, 40:150] = 255
    trimap[25:115, 35:45] = trimap[25:115, 145:155] = trimap[25:35, 35:155] = UNKNOWN
    moved = np.roll(trimap, 3, axis=0)
    moved[:, 100:] = trimap[:, 100:]  # the right half of the band stays: its tiles are reused
    assert isinstance(backend.tile_canvas(image, trimap, 16), HostCanvas)  # on the CPU
    results = []
    for refiner_backend in (OnDevice(), backend):
        refiner = TiledRefiner(refiner_backend, 64, 16, 3, True, 0.98, 0.01)
        first, n1, _ = refiner.refine_frame(image, image_to_u8(image), trimap, None)
        memory = FrameMemory(image_to_u8(image), trimap, quantize(first, "png16").values)
        second, n2, reused = refiner.refine_frame(image, image_to_u8(image), moved, memory)
        results.append((first, second, n1, n2, reused))
    (a1, a2, n1, n2, reused), (b1, b2, m1, m2, reused_host) = results
    assert (n1, n2, reused) == (m1, m2, reused_host) and n1 > 3 and reused > 0 and n2 > 0
    assert np.abs(a1 - b1).max() <= 1e-6 and np.abs(a2 - b2).max() <= 1e-6
    assert np.unique(a1[trimap == UNKNOWN]).size > 100


def test_device_choice_errors_name_the_fix(monkeypatch):
    """--device asks for what this machine has: CUDA at all, then a device index within its count."""
    import torch

    from videomatte_hq.errors import VideomatteError
    from videomatte_hq.torch_device import resolve

    assert resolve("cpu", "auto", print) == (torch.device("cpu"), "fp32")
    with pytest.raises(VideomatteError, match="invalid --device 'gpu'"):
        resolve("gpu", "auto", print)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(VideomatteError, match="CUDA is not available"):
        resolve("cuda", "auto", print)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(VideomatteError, match="--device cuda:2: this machine has 2 CUDA devices") as info:
        resolve("cuda:2", "auto", print)
    assert info.value.hint == "use cuda:0 to cuda:1 (or auto)"
