"""One output-layout contract: the engine spells it; the host client, the Nuke gizmo and the Blender add-on
take it from the engine (the `layout` command, the run_start event) and agree for every alpha format."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import fake_nuke
from conftest import ROOT, run_api
from nuke_script import parse
from test_nuke_plugin import tcl
from videomatte_client import RunState, engine_layout, sequence_path
from videomatte_hq.layout import ALPHA_FORMATS

sys.modules.setdefault("nuke", fake_nuke.make_module())
from videomatte_nuke import logic  # noqa: E402

ENGINE = [sys.executable, "-m", "videomatte_hq"]
GIZMO = parse((ROOT / "nuke_plugin" / "gizmos" / "VideomatteHQ.gizmo").read_text())[0]
READS = {node.name: node for node in GIZMO.children if node.cls == "Read"}


@pytest.mark.parametrize("alpha_format,alpha_pattern", [(f, None) for f in sorted(ALPHA_FORMATS)]
                         + [("exr16", "matte/shotA_matte.####.exr"), ("png8", "sh010.%03d.png")])
def test_engine_client_and_hosts_agree(tmp_path, shot_png, alpha_format, alpha_pattern):
    out = tmp_path / "out"
    asked = engine_layout(ENGINE, str(out), alpha_format, alpha_pattern)  # before a run, through the client
    state = RunState()
    report = run_api(shot_png, out, on_event=lambda e: state.feed(json.dumps(e)),
                     alpha_format=alpha_format, alpha_pattern=alpha_pattern, frame_end=1002)
    assert state.layout == asked == report.outputs  # the run_start event, the command, the report
    expected = {None: f"alpha/######{ALPHA_FORMATS[alpha_format][0]}", "matte/shotA_matte.####.exr":
                "matte/shotA_matte.####.exr", "sh010.%03d.png": "sh010.###.png"}[alpha_pattern]
    assert asked["alpha_pattern"] == str(out / expected)
    for pattern in (asked["alpha_pattern"], asked["trimap_pattern"]):
        assert [Path(sequence_path(pattern, f)).is_file() for f in (1001, 1002)] == [True, True], pattern
    # Nuke: the knobs Run sets point the gizmo's Reads at exactly those sequences.
    knobs = logic.result_knobs((1001, 1002), logic.PlatePlan("", 0, False), state.layout)
    assert tcl(READS["AlphaRead"].knobs["file"], knobs) == asked["alpha_pattern"]
    assert tcl(READS["TrimapRead"].knobs["file"], knobs) == asked["trimap_pattern"]


def test_no_host_spells_the_layout():
    """Blender's show_results (tested inside bpy) and the Nuke knobs read the patterns from the engine's events;
    no host or client source writes a layout name of its own."""
    spelled = re.compile(r"""join\([^)]*["'](alpha|qc)["']|alpha/|qc/|trimap\.#|######""")
    sources = [p for folder in ("host_client", "nuke_plugin", "blender_addon") for p in (ROOT / folder).rglob("*")
               if p.suffix in (".py", ".gizmo")]
    assert len(sources) >= 15
    assert [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources for m in spelled.finditer(p.read_text())] == []
