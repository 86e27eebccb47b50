"""Trimap thresholds/band, and the tiling that every refine backend goes through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from videomatte_hq import trimap as trimap_module
from videomatte_hq.io.colour import image_to_u8
from videomatte_hq.refine.tiling import FrameMemory, TiledRefiner, blend_weight, tile_grid
from videomatte_hq.trimap import BG, EDGE_BLOCK, FG, UNKNOWN, band_radius, edge_band, make_trimap, trimap_to_unit


def test_trimap_thresholds_and_minimum_band():
    prob = np.zeros((40, 40), np.float32)
    prob[:, 20:] = 1.0  # a hard edge: thresholds alone give no unknown band
    assert (make_trimap(prob, 0.97, 0.03, 1) == UNKNOWN).any()
    trimap = make_trimap(prob, 0.97, 0.03, 3)
    assert set(np.unique(trimap)) == {BG, UNKNOWN, FG}
    assert (trimap[:, 17:23] == UNKNOWN).all() and (trimap[:, :16] == BG).all() and (trimap[:, 24:] == FG).all()
    soft = np.linspace(0, 1, 40, dtype=np.float32)[None].repeat(4, 0)
    t = make_trimap(soft, 0.9, 0.1, 1)
    assert (t[0, soft[0] >= 0.9] == FG).all() and (t[0, soft[0] <= 0.1] == BG).all()


def _random_masks(rng) -> tuple[list[np.ndarray], int]:
    """Masks of any shape and size (blocks cut by the border), smooth, sparse, empty and full, and a radius (wider
    than a block too)."""
    h, w = rng.integers(1, 3 * EDGE_BLOCK, 2)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), float(rng.uniform(1, 12)))
    masks = [(noise > np.median(noise)).astype(np.uint8), (rng.random((h, w)) < 0.002).astype(np.uint8),
             np.zeros((h, w), np.uint8), np.ones((h, w), np.uint8)]
    return masks, int(rng.integers(1, 2 * EDGE_BLOCK))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("blocks_max", [1.0, trimap_module.EDGE_BLOCKS_MAX, 0.0])
def test_edge_band_is_the_full_frame_morphology(seed, blocks_max, monkeypatch):
    """Only the blocks near a change are computed (or the whole frame, past the ragged-mask limit); the pixels
    are those of cv2 over the whole frame."""
    monkeypatch.setattr(trimap_module, "EDGE_BLOCKS_MAX", blocks_max)
    masks, radius = _random_masks(np.random.default_rng(seed))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    for mask in masks:
        assert np.array_equal(edge_band(mask, radius), cv2.dilate(mask, kernel) != cv2.erode(mask, kernel))


@pytest.mark.parametrize("seed", range(6))
def test_trimap_on_a_torch_device_is_the_host_trimap(seed):
    """The GPU path (a probability left where SAM2 ran, thresholds and band by running sums there), run here on
    the CPU: the same trimap as numpy and cv2, from a tensor and from a numpy array with a device."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    masks, radius = _random_masks(rng)
    for mask in masks:
        prob = np.clip(mask * 0.8 + rng.normal(0.1, 0.2, mask.shape), 0, 1).astype(np.float32)
        expected = make_trimap(prob, 0.9, 0.1, radius)
        assert np.array_equal(make_trimap(torch.from_numpy(prob), 0.9, 0.1, radius), expected)
        assert np.array_equal(make_trimap(prob, 0.9, 0.1, radius, "cpu"), expected)


def test_unit_trimap_values():
    trimap = np.arange(256, dtype=np.uint8).reshape(16, 16)
    unit = trimap_to_unit(trimap)
    assert unit.dtype == np.float32 and unit[0, 0] == 0.0 and unit[15, 15] == 1.0
    assert np.all(unit.ravel()[1:255] == 0.5)
    torch = pytest.importorskip("torch")
    on_device = trimap_to_unit(torch.from_numpy(trimap))  # the device canvas's: the uint8 trimap uploaded
    assert on_device.dtype == torch.float32 and np.array_equal(on_device.numpy(), unit)


def test_band_radius_scales_with_resolution():
    assert band_radius(6, 1080, 1920) == 6 and band_radius(6, 2160, 3840) == 12 and band_radius(6, 100, 100) == 1


@pytest.mark.parametrize("h,w,size,overlap", [(100, 150, 64, 16), (64, 64, 64, 8), (30, 200, 64, 20),
                                              (517, 1031, 256, 48)])
def test_blend_weights_partition_of_unity(h, w, size, overlap):
    tiles = tile_grid(h, w, size, overlap)
    total = np.zeros((h, w), np.float32)
    covered = np.zeros((h, w), int)
    for tile in tiles:
        total[tile.slices] += blend_weight(tile, h, w, overlap)
        covered[tile.slices] += 1
    assert covered.min() >= 1, "the grid covers the frame"
    assert total.min() > 0
    # Normalised weights (what the refiner applies) sum to exactly one everywhere.
    norm = np.zeros((h, w), np.float64)
    for tile in tiles:
        norm[tile.slices] += blend_weight(tile, h, w, overlap) / total[tile.slices]
    assert np.allclose(norm, 1.0, atol=1e-6)


class _Recorder:
    """A per-pixel stand-in model (alpha from the pixel and its trimap value), counting its batches."""

    name, display_name, default_tile, default_overlap = "rec", "Recorder", 64, 16

    def __init__(self):
        self.calls = 0
        self.batches = []

    def refine(self, images, trimaps):
        self.calls += 1
        self.batches.append(len(images))
        return [(img.mean(axis=2) * 0.5 + 0.25 * (t == 0.5)).astype(np.float32) for img, t in zip(images, trimaps)]


def _scene(h=96, w=160):
    rng = np.random.default_rng(0)
    image = rng.random((h, w, 3), dtype=np.float32)
    trimap = np.zeros((h, w), np.uint8)
    trimap[:, w // 2:] = FG
    trimap[:, w // 2 - 4:w // 2 + 4] = UNKNOWN
    return image, trimap


def test_pointwise_model_is_seamless_across_tiles():
    """With a per-pixel model, blended tiles must equal one untiled call exactly (no seams)."""
    image, trimap = _scene()
    tiled, refined, skipped = TiledRefiner(_Recorder(), 48, 16, 3, False, 1.0, 0.0).refine_frame(
        image, image_to_u8(image), trimap, None)
    whole, _, _ = TiledRefiner(_Recorder(), 512, 0, 1, False, 1.0, 0.0).refine_frame(
        image, image_to_u8(image), trimap, None)
    assert refined > 1 and skipped == 0
    assert np.allclose(tiled, whole, atol=1e-6)
    assert (tiled[trimap == FG] == 1).all() and (tiled[trimap == BG] == 0).all()


def test_frame_in_one_tile_equals_untiled_model_call():
    image, trimap = _scene(60, 90)
    model = _Recorder()
    alpha, refined, _ = TiledRefiner(model, 128, 32, 4, False, 1.0, 0.0).refine_frame(
        image, image_to_u8(image), trimap, None)
    direct = _Recorder().refine([image], [trimap_to_unit(trimap)])[0]
    unknown = trimap == UNKNOWN
    assert refined == 1 and np.array_equal(alpha[unknown], direct[unknown])


def test_only_band_tiles_run_and_batches_are_used():
    image, trimap = _scene(256, 256)
    model = _Recorder()
    _, refined, _ = TiledRefiner(model, 64, 16, 4, False, 1.0, 0.0).refine_frame(
        image, image_to_u8(image), trimap, None)
    assert refined == len([t for t in tile_grid(256, 256, 64, 16) if (trimap[t.slices] == UNKNOWN).any()]) < 25
    assert model.batches[0] == 4 and sum(model.batches) == refined


def test_temporal_reuse_skips_unchanged_tiles_and_copies_written_alpha():
    image, trimap = _scene()
    model = _Recorder()
    refiner = TiledRefiner(model, 48, 16, 8, True, 0.95, 0.01)
    u8 = image_to_u8(image)
    first, refined, skipped = refiner.refine_frame(image, u8, trimap, None)
    assert skipped == 0
    memory = FrameMemory(u8, trimap, first)
    again, refined2, skipped2 = refiner.refine_frame(image, u8, trimap, memory)
    assert refined2 == 0 and skipped2 == refined and np.allclose(again, first, atol=1e-6)
    moved = np.roll(trimap, 6, axis=1)  # band moved: IoU drops, tiles are recomputed
    _, refined3, _ = refiner.refine_frame(image, u8, moved, memory)
    assert refined3 > 0
    brighter = np.clip(image + 0.2, 0, 1)  # same band, new image content: recomputed too
    _, refined4, _ = refiner.refine_frame(brighter, image_to_u8(brighter), trimap, memory)
    assert refined4 == refined


def test_refine_mode_full_is_one_tile_per_frame_and_recorded(tmp_path, shot_png):
    from conftest import run_api

    events = []
    report = run_api(shot_png, tmp_path / "full", on_event=events.append, refine_mode="full")
    assert report.refine == {"mode": "full", "tile_size": 80, "tile_overlap": 0, "batch_size": 16}
    assert report.tiles["refined"] + report.tiles["skipped"] == 6 and report.tiles["refined"] >= 1
    assert [e["mode"] for e in events if e["event"] == "refine_plan"] == ["full"]
    auto = run_api(shot_png, tmp_path / "auto", frame_end=1002)  # closed_form on the CPU: tiles
    assert auto.refine["mode"] == "tiled" and auto.refine["tile_size"] == 512


@pytest.mark.parametrize("alpha_format,top,dtype", [("png16", 65535, np.uint16), ("png8", 255, np.uint8)])
def test_quantized_alpha_is_what_the_file_holds(alpha_format, top, dtype):
    """The codes handed to the writer and the values reuse/resume see agree, out-of-range values clamped as the
    file clamps them (no wrap-around in the integer codes)."""
    from videomatte_hq.layout import quantize

    alpha = np.array([[-0.5, 0.0, 0.3, 1.0, 1.5]], np.float32)
    q = quantize(alpha, alpha_format)
    assert q.stored.dtype == dtype and q.stored.tolist() == [[0, 0, round(0.3 * top), top, top]]
    assert q.values.dtype == np.float32 and np.array_equal(q.values, q.stored.astype(np.float32) / np.float32(top))


def _closed_form(method: str, threads: int):
    """The closed-form backend with only the settings it reads."""
    from types import SimpleNamespace

    from videomatte_hq.refine.closed_form import ClosedFormBackend

    config = SimpleNamespace(refinement=SimpleNamespace(closed_form_method=method),
                             runtime=SimpleNamespace(cpu_threads=threads))
    return ClosedFormBackend(config, print)


@pytest.mark.parametrize("method", ["cf", "lbdm"])
def test_closed_form_solves_only_the_box_around_the_band(method):
    """The closed-form refine solves each tile in the box around its unknown pixels: the same alpha, bit for bit,
    as the whole tile's solve (a band crossing a corner, one along an edge, one touching two borders)."""
    backend = _closed_form(method, threads=1)
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.random((96, 128, 3)), (0, 0), 2.0)
    yy, xx = np.mgrid[:96, :128]
    for subject in ((yy - 20) ** 2 + (xx - 30) ** 2 < 900, xx < 100, (yy < 40) & (xx > 70)):
        trimap = subject.astype(np.float64)
        band = cv2.morphologyEx(subject.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
        trimap[band] = 0.5
        whole = backend._solve_box(image, trimap)
        boxed = backend._solve(image, trimap)
        assert np.array_equal(boxed, whole) and 0 < boxed[band].mean() < 1


def test_closed_form_solves_each_tile_with_blas_on_one_thread(monkeypatch):
    """The tiles are solved side by side, one per pool thread; each solve's BLAS runs on one thread (OpenBLAS would
    spread every CG step over all cores and spin between them), and the process's BLAS threads are back after."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    backend = _closed_form("cf", threads=2)
    seen: list[set[int]] = []
    cg = backend._pm.cg
    monkeypatch.setattr(backend._pm, "cg", lambda *a, **k: seen.append(blas_threads()) or cg(*a, **k))
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.random((64, 64, 3)), (0, 0), 2.0).astype(np.float32)
    trimap = np.zeros((64, 64), np.float32)
    trimap[:, :24], trimap[:, 24:40] = 1.0, 0.5
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this one has
        alphas = backend.refine([image, image[::-1].copy()], [trimap, trimap])
        assert blas_threads() == {2}
    assert seen == [{1}, {1}] and all(0 < a[:, 24:40].mean() < 1 for a in alphas)
