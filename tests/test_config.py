"""Config files: flat or grouped, JSON or YAML, CLI overrides, validation messages."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from videomatte_hq.config import build_config
from videomatte_hq.errors import VideomatteError


def test_flat_and_grouped_files_agree(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"trimap_band": "wider", "tile_size": 256, "device": "cpu", "alpha_format": "exr16"}))
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text("segmentation: {trimap_band: wider}\nrefinement: {tile_size: 256}\n"
                       "runtime: {device: cpu}\nio: {alpha_format: exr16}\n")
    assert build_config(flat) == build_config(grouped)


def test_cli_overrides_file_and_relative_paths_follow_the_file(tmp_path):
    cfg = tmp_path / "shots" / "a.yaml"
    cfg.parent.mkdir()
    cfg.write_text("input: plates/p.####.exr\ntrimap_fg_threshold: 0.9\n")
    config = build_config(cfg, {"trimap_fg_threshold": 0.95, "trimap_bg_threshold": None})
    assert config.io.input == str(tmp_path / "shots" / "plates" / "p.####.exr")
    assert config.thresholds()[:2] == (0.95, 0.03)


def test_environment_variables_in_a_config_files_paths(tmp_path, monkeypatch):
    """A farm config names its roots by environment variables ($SHOW, ${SHOT}; $OCIO for the studio config):
    expanded, then relative paths follow the file; an unset one is refused naming it and the key."""
    monkeypatch.setenv("SHOW", str(tmp_path / "show"))
    monkeypatch.setenv("SHOT", "sh010")
    monkeypatch.setenv("OCIO", "ocio://studio-config-latest")
    cfg = tmp_path / "a.yaml"
    cfg.write_text("input: $SHOW/${SHOT}/plate.####.exr\nanchor_mask: ${SHOT}_roto.png\nocio_config: $OCIO\n"
                   "extra_anchors: {1010: $SHOW/roto.1010.png}\n")
    config = build_config(cfg)
    assert config.io.input == str(tmp_path / "show" / "sh010" / "plate.####.exr")
    assert config.io.anchor_mask == str(tmp_path / "sh010_roto.png")
    assert config.io.ocio_config == "ocio://studio-config-latest"
    assert config.io.extra_anchors == {1010: str(tmp_path / "show" / "roto.1010.png")}
    monkeypatch.delenv("SHOT")
    with pytest.raises(VideomatteError, match=r"'input' in .*a.yaml uses \$SHOT, which is not set") as error:
        build_config(cfg)
    assert "on each farm worker" in error.value.hint


def test_band_presets_set_thresholds_unless_given():
    assert build_config(None, {"trimap_band": "narrow"}).thresholds()[:2] == (0.90, 0.10)
    assert build_config(None, {"trimap_band": "maximum", "trimap_bg_threshold": 0.2}).thresholds()[:2] == (0.995, 0.2)


def test_inverted_thresholds_rejected():
    with pytest.raises(VideomatteError, match="must be below"):
        build_config(None, {"trimap_fg_threshold": 0.3, "trimap_bg_threshold": 0.6})


def test_key_in_wrong_group_is_named(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("io:\n  tile_size: 128\n")
    with pytest.raises(VideomatteError, match="'tile_size' in group 'io' of .* belongs in group 'refinement'") as err:
        build_config(cfg)
    assert "move it under 'refinement:'" in err.value.hint


def test_unknown_key_in_a_group_suggests_that_groups_key_first(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("segmentation:\n  backend: flow\n")  # refine_backend is as close by spelling alone
    with pytest.raises(VideomatteError, match="unknown config key 'backend' in group 'segmentation'") as err:
        build_config(cfg)
    assert err.value.hint == "did you mean 'segment_backend'?"


def test_validate_config_prints_resolved(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("refinement:\n  batch_size: 2\n")
    proc = run_cli("validate-config", cfg, check=True)
    assert json.loads(proc.stdout)["refinement"]["batch_size"] == 2 and "ok" in proc.stderr
