"""Plate colour through OpenColorIO: an ACEScg plate made from a known sRGB image (same config) feeds the models
what the sRGB original does; the plate's metadata; unknown names with suggestions; $OCIO and --ocio-config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from conftest import WEIGHT_FREE, run_cli
from videomatte_hq.errors import VideomatteError
from videomatte_hq.io.images import write_image
from videomatte_hq.io.ocio import colour_config
from videomatte_hq.io.source import open_source

# A config of our own: only $OCIO / --ocio-config can make "vmhq_half_gain" known (linear at half the level).
CONFIG = """ocio_profile_version: 2.1
roles:
  default: lin_rec709
  scene_linear: lin_rec709
  color_picking: srgb_rec709_scene
file_rules:
  - !<Rule> {name: Default, colorspace: default}
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: srgb_rec709_scene}
colorspaces:
  - !<ColorSpace>
    name: lin_rec709
  - !<ColorSpace>
    name: srgb_rec709_scene
    from_scene_reference: !<ExponentWithLinearTransform> {gamma: 2.4, offset: 0.055, direction: inverse}
  - !<ColorSpace>
    name: vmhq_half_gain
    to_scene_reference: !<MatrixTransform> {matrix: [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1]}
"""


@pytest.fixture(scope="module")
def plates(tmp_path_factory) -> dict:
    """The same picture as an 8-bit sRGB PNG, an ACEScg EXR (converted by the built-in config) with and without
    its colour-space metadata, and a 'vmhq_half_gain' EXR."""
    root = tmp_path_factory.mktemp("ocio")
    rng = np.random.default_rng(7)
    srgb = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
    write_image(root / "png" / "p.1001.png", srgb, "uint8", ("R", "G", "B"))
    acescg = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(srgb.astype(np.float32) / 255), "srgb_rec709_scene",
                                            "ACEScg").get_pixels(oiio.FLOAT)
    write_image(root / "aces" / "p.1001.exr", acescg, "float", ("R", "G", "B"))
    write_image(root / "tagged" / "p.1001.exr", acescg, "float", ("R", "G", "B"), {"oiio:ColorSpace": "ACEScg"})
    linear = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(srgb.astype(np.float32) / 255), "srgb_rec709_scene",
                                            "lin_rec709").get_pixels(oiio.FLOAT)
    write_image(root / "half" / "p.1001.exr", linear / 2, "float", ("R", "G", "B"))
    (root / "config.ocio").write_text(CONFIG)
    return {"root": root, "srgb": srgb.astype(np.float32) / 255}


def model_input(plate, colorspace="auto", ocio_config=None):
    return open_source(str(plate), colorspace, lambda message: None, ocio_config=ocio_config).read(1001)


def test_acescg_plate_feeds_the_models_what_the_srgb_original_does(plates):
    root, srgb = plates["root"], plates["srgb"]
    original = model_input(root / "png" / "p.1001.png")
    assert np.abs(original - srgb).max() < 1e-6
    assert np.abs(model_input(root / "aces" / "p.1001.exr", "ACEScg") - original).max() < 2e-3
    assert np.abs(model_input(root / "aces" / "p.1001.exr", "lin_ap1") - original).max() < 2e-3  # an alias
    source = open_source(str(root / "tagged" / "p.1001.exr"), "auto", lambda message: None)
    assert source.colour.chosen_by == "metadata" and source.colour.space == "ACEScg"  # the plate says so
    assert np.abs(source.read(1001) - original).max() < 2e-3
    untagged = open_source(str(root / "aces" / "p.1001.exr"), "auto", lambda message: None).colour
    assert (untagged.chosen_by, untagged.fast) == ("default", True)  # EXR: linear Rec.709, the exact table path


def test_floating_point_tiffs_are_linear_by_default(plates, tmp_path):
    """An untagged float or half TIFF is scene-linear (Nuke's float LUT default), as an EXR: it feeds the models
    what the sRGB original does (it was read as sRGB: every pixel darker); a 16-bit TIFF stays sRGB."""
    srgb = plates["srgb"]
    linear = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(srgb), "srgb_rec709_scene", "lin_rec709").get_pixels(
        oiio.FLOAT)
    for name, pixels, fmt in (("float", linear, oiio.FLOAT), ("half", linear, oiio.HALF), ("u16", srgb, oiio.UINT16)):
        path = tmp_path / f"{name}.1001.tif"
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), oiio.ImageSpec(32, 24, 3, fmt)) and out.write_image(pixels), out.geterror()
        out.close()
        source = open_source(str(path), "auto", lambda message: None)
        assert (source.colour.chosen_by, source.colour.linear) == ("default", name != "u16"), name
        assert np.abs(source.read(1001) - srgb).max() < (2e-3 if name == "half" else 1e-5), name


def test_unknown_colour_space_fails_with_suggestions(plates):
    with pytest.raises(VideomatteError) as bad:
        model_input(plates["root"] / "aces" / "p.1001.exr", "ACEScgg")
    assert "'ACEScgg' is not a colour space" in bad.value.message and "ACEScg" in bad.value.hint
    proc = run_cli("-i", plates["root"] / "aces" / "p.1001.exr", "--anchor-mask", "x.png", "-o",
                   plates["root"] / "out", "--input-colorspace", "ACEScgg", *WEIGHT_FREE)
    assert proc.returncode != 0 and "did you mean ACEScg" in proc.stderr
    assert not (plates["root"] / "out" / "alpha").exists()  # refused before anything was written


def test_ocio_env_and_option_choose_the_config(plates, monkeypatch):
    root, expected = plates["root"], model_input(plates["root"] / "png" / "p.1001.png")
    plate = root / "half" / "p.1001.exr"
    with pytest.raises(VideomatteError):
        model_input(plate, "vmhq_half_gain")  # the built-in config has no such space
    assert np.abs(model_input(plate, "vmhq_half_gain", root / "config.ocio") - expected).max() < 2e-3
    monkeypatch.setenv("OCIO", str(root / "config.ocio"))
    colour_config.cache_clear()
    try:
        assert np.abs(model_input(plate, "vmhq_half_gain") - expected).max() < 2e-3
    finally:
        monkeypatch.delenv("OCIO")
        colour_config.cache_clear()


def test_run_records_the_colour_and_resume_depends_on_it(plates, tmp_path, shot_exr):
    out = tmp_path / "out"
    common = ["-i", shot_exr["input"], "--anchor-mask", shot_exr["anchor"], "-o", out, *WEIGHT_FREE,
              "--frame-end", "1003"]
    run_cli(*common, check=True)
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["colour"]["input_space"] == "Linear Rec.709 (sRGB)" and summary["colour"]["chosen_by"] == "metadata"
    proc = run_cli(*common, "--resume", "--input-colorspace", "ACEScg", "--progress", "jsonl", check=True)
    assert "settings hash differs" in proc.stdout  # another colour space: the frames are recomputed


def test_builtin_config_uris_and_roles(plates):
    """OCIO's built-in configs by URI (what Nuke 15+ and hosts may name) stay URIs through config resolution;
    roles such as scene_linear are names too; a file's 'data' tag is not mistaken for the role."""
    from videomatte_hq.config import build_config

    cfg = build_config(None, {"ocio_config": "ocio://studio-config-latest", "input_colorspace": "scene_linear"})
    assert cfg.io.ocio_config == "ocio://studio-config-latest"
    root, original = plates["root"], model_input(plates["root"] / "png" / "p.1001.png")
    aces = model_input(root / "aces" / "p.1001.exr", "scene_linear", cfg.io.ocio_config)  # ACEScg in that config
    assert np.abs(aces - original).max() < 2e-3
    source = open_source(str(root / "aces" / "p.1001.exr"), "auto", lambda message: None)  # tagged 'data'
    assert source.colour.chosen_by == "default"


@pytest.mark.parametrize("linear", [True, False])
def test_every_half_value_takes_the_float_path(linear):
    """The half-float lookup (one compiled pass) gives, for all 65536 bit patterns, the float path's values,
    its 8-bit copy and its NaN/inf count; also through a 4-channel plate's RGB view (strided)."""
    from videomatte_hq.io.colour import clean_nonfinite, image_to_u8, linear_to_srgb, to_model_rgb

    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    rgba = np.stack([every, every[::-1], np.roll(every, 7), every], axis=1).reshape(256, 256, 4)
    rgb, rgb_u8, bad = to_model_rgb(rgba, linear)
    with np.errstate(invalid="ignore", over="ignore"):
        expected, count = clean_nonfinite(rgba[..., :3].astype(np.float32))
    expected = linear_to_srgb(expected) if linear else np.clip(expected, 0.0, 1.0)
    assert rgb.dtype == np.float32 and np.array_equal(rgb, expected)
    assert rgb_u8.dtype == np.uint8 and np.array_equal(rgb_u8, image_to_u8(expected))
    assert bad == count == 3 * 2 * 1024  # per channel: exponent all ones (inf, NaNs), 1024 mantissas, 2 signs


def test_half_plates_read_from_a_read_only_install(tmp_path):
    """A farm node's install and home may be read-only (no numba cache to write): the lookup is then compiled in
    the process instead of failing. The engine is copied and bind-mounted read-only (needs root, as in CI)."""
    import shutil
    import subprocess
    import sys

    import videomatte_hq

    copy, readonly, home = tmp_path / "copy", tmp_path / "ro", tmp_path / "home"
    shutil.copytree(Path(videomatte_hq.__file__).parent, copy / "videomatte_hq",
                    ignore=shutil.ignore_patterns("__pycache__"))
    readonly.mkdir()
    home.mkdir()
    mounted = []
    try:
        for source, point in ((copy, readonly), (home, home)):
            for args in (["--bind", str(source), str(point)], ["-o", "remount,bind,ro", str(point)]):
                proc = subprocess.run(["mount", *args], capture_output=True, text=True)
                if proc.returncode != 0:
                    pytest.skip(f"cannot bind-mount read-only here (needs root): {proc.stderr.strip()}")
            mounted.append(point)
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        code = ("import numpy as np; from videomatte_hq.io.colour import to_model_rgb; "
                "x = np.array([[[0.5, np.inf, np.nan]]], np.float16); print(to_model_rgb(x, True)[2])")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                              env={**env, "PYTHONPATH": str(readonly), "HOME": str(home),
                                   "XDG_CACHE_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"})
        assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "-l", str(point)], check=False)


def _with_primaries(path: Path, pixels: np.ndarray, chromaticities, tag: str | None = None) -> None:
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 3, oiio.HALF)
    spec.channelnames = ("R", "G", "B")
    spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), tuple(chromaticities))
    if tag:
        spec.attribute("oiio:ColorSpace", tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    out.close()


def test_exr_chromaticities_choose_the_space(plates, tmp_path):
    """An untagged EXR whose chromaticities declare ACES AP1 is read as ACEScg (as its tag would say); a tag still
    comes first; primaries this tool does not know are warned about and the default is kept. Rec.709 primaries
    keep the exact table path."""
    from videomatte_hq.io.ocio import PRIMARIES

    srgb = plates["srgb"]
    acescg = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(srgb), "srgb_rec709_scene", "ACEScg").get_pixels(oiio.FLOAT)
    cases = {"ap1": (PRIMARIES["lin_ap1_scene"], None), "tagged": (PRIMARIES["lin_ap1_scene"], "lin_rec709"),
             "rec709": (PRIMARIES["lin_rec709_scene"], None), "odd": ((0.6, 0.3, 0.3, 0.6, 0.2, 0.1, 0.31, 0.33), None)}
    chosen = {}
    for name, (xy, tag) in cases.items():
        _with_primaries(tmp_path / name / "p.1001.exr", acescg, xy, tag)
        warnings = []
        source = open_source(str(tmp_path / name / "p.1001.exr"), "auto", warnings.append)
        chosen[name] = (source.colour.space, source.colour.chosen_by, len(warnings))
        if name == "ap1":
            assert np.abs(source.read(1001) - srgb).max() < 4e-3  # half floats
        if name == "rec709":
            assert source.colour.fast is True
        if name == "odd":
            assert "declares primaries this tool does not know" in warnings[0] and "--input-colorspace" in warnings[0]
    assert chosen == {"ap1": ("ACEScg", "chromaticities", 0), "tagged": ("Linear Rec.709 (sRGB)", "metadata", 0),
                      "rec709": ("Linear Rec.709 (sRGB)", "chromaticities", 0),
                      "odd": ("Linear Rec.709 (sRGB)", "default", 1)}
    assert open_source(str(tmp_path / "ap1" / "p.1001.exr"), "lin_rec709", print).colour.chosen_by == "option"


def test_a_colour_tag_the_config_does_not_know_is_warned(tmp_path):
    """A log DPX scan is tagged KodakLog by OpenImageIO, which the built-in config lacks: it is read with the
    default (sRGB) as before, and the warning names the tag and the fix; a printing-density DPX (untagged) is
    warned about too, a plate tagged 'data' is not."""
    path = tmp_path / "scan.1001.dpx"
    spec = oiio.ImageSpec(32, 24, 3, oiio.UINT16)
    spec.attribute("dpx:Transfer", "Logarithmic")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(np.full((24, 32, 3), 0.5, np.float32)), out.geterror()
    out.close()
    warnings = []
    source = open_source(str(tmp_path / "scan.####.dpx"), "auto", warnings.append)
    assert source.colour.chosen_by == "default" and len(warnings) == 1
    assert "scan.1001.dpx is tagged 'KodakLog'" in warnings[0] and "--input-colorspace" in warnings[0]
    assert not open_source(str(tmp_path / "scan.####.dpx"), "sRGB", warnings.append).colour.chosen_by == "default"
    assert len(warnings) == 1  # a space given: nothing to warn about
    write_image(tmp_path / "data.1001.exr", np.zeros((4, 4, 3), np.float32), "half", ("R", "G", "B"))  # 'data'
    open_source(str(tmp_path / "data.####.exr"), "auto", warnings.append)
    assert len(warnings) == 1  # as untagged
    path = tmp_path / "film.1001.dpx"  # a film scan: OpenImageIO gives it no colour space
    spec.attribute("dpx:Transfer", "Printing density")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(np.full((24, 32, 3), 0.5, np.float32)), out.geterror()
    out.close()
    open_source(str(tmp_path / "film.####.dpx"), "auto", warnings.append)
    assert "film.1001.dpx is log-encoded (dpx:Transfer 'Printing density': a film scan); read as" in warnings[-1]


def test_colour_space_names_are_looked_up_regardless_of_case(plates):
    """As OCIO looks them up: the README's `sRGB`, a Nuke user's `Linear`, `acescg`."""
    exr = str(plates["root"] / "aces" / "p.1001.exr")
    spaces = {name: open_source(exr, name, print).colour.space for name in ("sRGB", "Linear", "acescg", "LIN_AP1")}
    assert spaces == {"sRGB": "sRGB Encoded Rec.709 (sRGB)", "Linear": "Linear Rec.709 (sRGB)", "acescg": "ACEScg",
                      "LIN_AP1": "ACEScg"}
    assert open_source(exr, "ACEScg", print, foreground_colorspace="SCENE_LINEAR").colour.linear_space == "ACEScg"
