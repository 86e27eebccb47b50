"""Foreground colour and the layered matte EXR: the estimator against ground truth, the files a run writes
(channel names, premultiplication, trimap layer, colour space) read back with OpenImageIO, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from conftest import ROOT, read_pixels, run_api, run_cli
from videomatte_hq.io.images import read_image, write_image
from videomatte_hq.refine.foreground import estimate_foreground

BENCH = ROOT.parent / "shared" / "bench" / "public" / "hair_pan"


def band_error(alpha, foreground, truth_alpha, truth_fg):
    """MSE of aF against the ground truth's aF inside the band (0 < a < 1 in either matte)."""
    band = ((alpha > 0) & (alpha < 1)) | ((truth_alpha > 0) & (truth_alpha < 1))
    return float(((alpha[..., None] * foreground - truth_alpha[..., None] * truth_fg)[band] ** 2).mean())


def test_estimate_beats_the_plate_on_a_benchmark_frame():
    plate = read_image(BENCH / "plate" / "1012.exr")[0][..., :3]
    alpha = read_image(BENCH / "alpha_gt" / "1012.png")[0][..., 0]
    truth = read_image(BENCH / "fg_gt" / "1012.exr")[0][..., :3]
    estimate = estimate_foreground(plate, alpha)
    ours, naive = band_error(alpha, estimate, alpha, truth), band_error(alpha, plate, alpha, truth)
    assert ours < naive / 5, (ours, naive)
    # small tiles (many seams) stay close to the default grid: the blend hides the tile borders
    small = estimate_foreground(plate, alpha, tile=160, overlap=48)
    assert band_error(alpha, small, alpha, truth) < naive / 4
    # tiles solved on threads (where numba's layer allows it) blend in grid order: the same bits
    np.testing.assert_array_equal(estimate_foreground(plate, alpha, tile=160, overlap=48, threads=3), small)


def test_known_pixels_highlights_and_negative_values_survive():
    """a = 1: the plate; a = 0: black; a scene-linear foreground of 6.0 and a negative background channel are
    recovered (the estimator itself clips to [0, 1]; the tile is mapped into that range and back)."""
    rng = np.random.default_rng(3)
    height, width = 96, 128
    xs = np.linspace(-1, 1, width)[None, :].repeat(height, 0)
    alpha = np.clip(0.5 - xs * 2.0, 0.0, 1.0).astype(np.float32)  # a soft vertical edge
    fg = np.broadcast_to(np.array([6.0, 3.0, 0.5], np.float32), (height, width, 3))
    bg = (np.array([0.2, -0.05, 0.3], np.float32) + rng.normal(0, 0.01, (height, width, 3))).astype(np.float32)
    plate = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    estimate = estimate_foreground(plate, alpha)
    opaque, clear, band = alpha >= 1, alpha <= 0, (alpha > 0) & (alpha < 1)
    assert np.array_equal(estimate[opaque], plate[opaque]) and not estimate[clear].any()
    assert estimate[band][:, 0].max() > 5.0
    err = np.abs(alpha[..., None] * (estimate - fg))[band].mean()
    naive = np.abs(alpha[..., None] * (plate - fg))[band].mean()
    assert err < naive / 5, (err, naive)


@pytest.fixture(scope="module")
def layered(tmp_path_factory, shot_exr) -> Path:
    out = tmp_path_factory.mktemp("layered") / "out"
    run_api(shot_exr, out, frame_end=1003, foreground=True, matte_exr=True, alpha_format="exr32")
    return out


def test_layered_exr_channels_premultiplication_and_trimap(layered, shot_exr):
    summary = json.loads((layered / "run_summary.json").read_text())
    assert summary["outputs"]["matte_pattern"] == str(layered / "matte" / "######.exr")
    assert summary["colour"]["foreground_space"] == "Linear Rec.709 (sRGB)"
    for frame in (1001, 1002, 1003):
        matte, spec = read_pixels(layered / "matte" / f"{frame:06d}.exr")
        names = list(spec.channelnames)
        assert sorted(names) == sorted(["R", "G", "B", "A", "trimap.Y", "foreground.R", "foreground.G",
                                        "foreground.B"])
        assert spec.format == oiio.HALF and names[spec.alpha_channel] == "A"
        assert oiio.ColorConfig().equivalent(spec.getattribute("oiio:ColorSpace"), "lin_rec709")
        channel = {name: matte[..., i] for i, name in enumerate(names)}
        alpha = read_pixels(layered / "alpha" / f"{frame:06d}.exr")[0][..., 0]
        np.testing.assert_allclose(channel["A"], alpha, atol=1e-3)  # the same matte, as half
        fg, fspec = read_pixels(layered / "foreground" / f"{frame:06d}.exr")
        assert list(fspec.channelnames) == ["R", "G", "B"] and fspec.alpha_channel == -1
        straight = np.stack([channel[f"foreground.{c}"] for c in "RGB"], axis=2)
        np.testing.assert_array_equal(straight, fg)
        premult = np.stack([channel[c] for c in "RGB"], axis=2)
        np.testing.assert_allclose(premult, fg * alpha[..., None], atol=2e-3, rtol=2e-3)
        trimap = read_pixels(layered / "qc" / f"trimap.{frame:06d}.png")[0][..., 0]
        np.testing.assert_array_equal(channel["trimap.Y"], np.round(trimap * 2) / 2)
        plate = read_pixels(Path(shot_exr["input"].replace("####", str(frame))))[0][..., :3]
        np.testing.assert_allclose(fg[alpha >= 1], plate[alpha >= 1], atol=2e-3, rtol=1e-3)  # opaque: the plate
        assert not fg[alpha <= 0].any()


def test_resume_rewrites_a_frame_whose_layered_exr_is_gone(layered, shot_exr):
    (layered / "matte" / "001002.exr").unlink()
    events = []
    run_api(shot_exr, layered, frame_end=1003, foreground=True, matte_exr=True, alpha_format="exr32",
            resume=True, on_event=events.append)
    done = {e["frame"]: e.get("resumed", False) for e in events
            if e["event"] == "frame_done" and e["stage"] == "refine"}
    assert done == {1001: True, 1002: False, 1003: True}
    assert (layered / "matte" / "001002.exr").is_file()


def test_matte_exr_alone_in_the_plates_acescg(tmp_path, shot_exr):
    """An ACEScg plate: the layered EXR is in ACEScg (tagged so), without a straight foreground layer, and
    converted to linear Rec.709 it matches the run on the linear Rec.709 original."""
    src = Path(shot_exr["input"]).parent
    for path in sorted(src.glob("*.exr"))[:2]:
        rgb = read_image(path)[0][..., :3]
        aces = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(rgb), "lin_rec709", "ACEScg").get_pixels(oiio.FLOAT)
        write_image(tmp_path / "aces" / path.name, aces, "float", ("R", "G", "B"))
    aces_shot = {**shot_exr, "input": str(tmp_path / "aces" / Path(shot_exr["input"]).name)}
    first = int(sorted(src.glob("*.exr"))[0].stem.split(".")[-1])
    run_api(aces_shot, tmp_path / "aces_out", frame_end=first + 1, matte_exr=True, input_colorspace="ACEScg")
    run_api(shot_exr, tmp_path / "lin_out", frame_end=first + 1, matte_exr=True)
    matte, spec = read_pixels(tmp_path / "aces_out" / "matte" / f"{first:06d}.exr")
    assert sorted(spec.channelnames) == ["A", "B", "G", "R", "trimap.Y"]
    assert oiio.ColorConfig().equivalent(spec.getattribute("oiio:ColorSpace"), "ACEScg")  # written lin_ap1_scene
    reference = read_pixels(tmp_path / "lin_out" / "matte" / f"{first:06d}.exr")[0]
    rgba = matte[..., [list(spec.channelnames).index(c) for c in "RGBA"]]
    back = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(np.ascontiguousarray(rgba[..., :3])), "ACEScg",
                                          "lin_rec709").get_pixels(oiio.FLOAT)
    np.testing.assert_allclose(rgba[..., 3], reference[..., 3], atol=2e-3)
    np.testing.assert_allclose(back, reference[..., :3], atol=2e-2)  # the solver clips per channel: near, not exact


def test_layout_command_names_the_new_outputs(tmp_path):
    proc = run_cli("layout", "-o", tmp_path, "--foreground", "--matte-exr", "--json", check=True)
    layout = json.loads(proc.stdout)
    assert layout["foreground_pattern"] == str(tmp_path / "foreground" / "######.exr")
    assert layout["matte_pattern"] == str(tmp_path / "matte" / "######.exr")
    plain = json.loads(run_cli("layout", "-o", tmp_path, "--json", check=True).stdout)
    assert plain["foreground_pattern"] is None and plain["matte_pattern"] is None


def test_foreground_in_a_hosts_working_space_and_bad_names(tmp_path, shot_exr):
    """--foreground-colorspace scene_linear (a role: what hosts pass for their working space) resolves in the
    config; an unknown name is refused before anything is written, naming the option and close names."""
    from videomatte_hq.errors import VideomatteError

    out = tmp_path / "out"
    run_api(shot_exr, out, frame_end=1001, foreground=True, foreground_colorspace="scene_linear")
    spec = read_pixels(out / "foreground" / "001001.exr")[1]
    assert oiio.ColorConfig().equivalent(spec.getattribute("oiio:ColorSpace"), "ACEScg")  # the ACES config's role
    with pytest.raises(VideomatteError, match="--foreground-colorspace 'ACEScgg' is not a colour space") as err:
        run_api(shot_exr, tmp_path / "bad", frame_end=1001, foreground=True, foreground_colorspace="ACEScgg")
    assert "ACEScg" in err.value.hint and not (tmp_path / "bad" / "foreground").exists()
