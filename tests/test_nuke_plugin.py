"""The Nuke plugin: pure logic, the gizmo file (parsed), and the whole Run flow against the real engine CLI
with the `nuke` module replaced by a recorder (tests/fake_nuke.py)."""

from __future__ import annotations

import ast
import json
import re
import sys
import threading
from pathlib import Path

import pytest
import yaml

import fake_nuke
from conftest import ENV, ROOT, read_pixels
from nuke_script import parse
from videomatte_client import sequence_path

sys.modules.setdefault("nuke", fake_nuke.make_module())  # before the plugin imports it
from videomatte_nuke import logic, nuke_ops  # noqa: E402

GIZMO = parse((ROOT / "nuke_plugin" / "gizmos" / "VideomatteHQ.gizmo").read_text())[0]
INNER = {node.name: node for node in GIZMO.children}
ENGINE = " ".join([sys.executable, "-m", "videomatte_hq"])


def tcl(expr: str, knobs: dict) -> str:
    """Evaluate the TCL our gizmo's Reads use: [value parent.X]."""
    pattern = re.compile(r"\[([^\[\]]*)\]")
    while pattern.search(expr):
        def one(m):
            words = m.group(1).split()
            if words[0] == "value":
                return str(knobs[words[1].removeprefix("parent.")])
            raise AssertionError(f"unexpected TCL {m.group(0)}")
        expr = pattern.sub(one, expr)
    return expr


# --- pure logic ----------------------------------------------------------------------------------------------

def test_read_offsets_and_plate_plan():
    assert logic.read_offset({"frame_mode": "offset", "frame": "10"}) == 10
    assert logic.read_offset({"frame_mode": "start at", "frame": "1", "first": 1001}) == -1000
    assert logic.read_offset({"frame_mode": "expression", "frame": ""}) == 0
    with pytest.raises(logic.SetupError, match="retimes with the expression"):
        logic.read_offset({"frame_mode": "offset", "frame": "frame*2"})
    plan = logic.plate_plan("Read", {"file": "/p/sh010.%04d.exr", "frame_mode": "offset", "frame": "10"}, "/o", False)
    assert (plan.pattern, plan.offset, plan.render, plan.file_frame(1011)) == ("/p/sh010.####.exr", 10, False, 1001)
    for knobs in ({"file": "/p/a.####.exr", "colorspace": "default (linear)"}, {"file": "/p/a.####.exr"},
                  {"file": "/p/a.####.png", "colorspace": "sRGB"}, {"file": "/p/a.%04d.exr", "colorspace": "scene_linear"}):
        assert not logic.plate_plan("Read", knobs, "/o", False).render, knobs
    for cls, knobs, proxy in (("Read", {"file": "/p/clip.mov"}, False), ("Grade", {}, False),
                              ("Read", {"file": "/p/a.####.exr"}, True), ("Read", {"file": "/p/a.####.psd"}, False),
                              ("Read", {"file": "/p/a.####.dpx"}, False),  # usually log: Nuke linearises it
                              ("Read", {"file": "/p/a.####.exr", "colorspace": "sRGB"}, False),
                              ("Read", {"file": "/p/a.####.png", "colorspace": "AlexaV3LogC"}, False),
                              ("Read", {"file": "/p/a.####.exr", "raw": True}, False)):
        plan = logic.plate_plan(cls, knobs, "/o", proxy)
        assert plan.render and plan.pattern == "/o/plate/plate.####.exr" and plan.offset == 0


def test_settings_validate_ranges():
    knobs = {"output_dir": "/o", "use_input_range": True, "anchor_frame": 0}
    settings = logic.Settings.from_knobs(knobs, (1001, 1100), current_frame=1050)
    assert (settings.first, settings.last, settings.anchor_frame) == (1001, 1100, 1050)
    with pytest.raises(logic.SetupError, match="anchor frame 900 is outside the frame range 1001-1100"):
        logic.Settings.from_knobs({**knobs, "anchor_frame": 900}, (1001, 1100), 1050)
    with pytest.raises(logic.SetupError, match="is empty"):
        logic.Settings.from_knobs({**knobs, "use_input_range": False, "first_frame": 5, "last_frame": 1}, (1, 9), 1)
    with pytest.raises(logic.SetupError, match="Output folder"):
        logic.Settings.from_knobs({**knobs, "output_dir": ""}, (1001, 1100), 1050)
    extra = logic.Settings.from_knobs({**knobs, "extra_anchor_frames": "1080, 1060 1050"}, (1001, 1100), 1050)
    assert extra.extra_anchor_frames == (1060, 1080), "sorted, the anchor frame itself dropped"
    with pytest.raises(logic.SetupError, match="'10x' is not a frame number"):
        logic.Settings.from_knobs({**knobs, "extra_anchor_frames": "10x"}, (1001, 1100), 1050)
    with pytest.raises(logic.SetupError, match=r"extra anchor frames \[1200\] are outside the frame range"):
        logic.Settings.from_knobs({**knobs, "extra_anchor_frames": "1200"}, (1001, 1100), 1050)


def test_engine_command_maps_timeline_to_file_frames():
    settings = logic.Settings.from_knobs({"output_dir": "/o", "anchor_frame": 1013, "fg_threshold": 0.95,
                                          "engine": "/usr/bin/python3 -m videomatte_hq"}, (1011, 1016), 1)
    argv = logic.engine_command(settings, logic.PlatePlan("/p/a.####.exr", 10, False), "/o/anchor/a.1013.exr",
                                resume=False).argv()
    assert argv[:3] == ["/usr/bin/python3", "-m", "videomatte_hq"]
    for flag, value in (("--frame-start", "1001"), ("--frame-end", "1006"), ("--anchor-frame", "1003"),
                        ("--trimap-fg-threshold", "0.95"), ("--alpha-format", "png16"), ("--progress", "jsonl"),
                        ("--segment-backend", "sam2"), ("--refine-backend", "mematte")):  # the engine's defaults
        assert argv[argv.index(flag) + 1] == value
    assert "--trimap-bg-threshold" not in argv and "--overwrite" in argv and "--input-colorspace" not in argv


def test_colour_management_reaches_the_engine(tmp_path):
    config = tmp_path / "studio.ocio"
    config.write_text("ocio_profile_version: 2\n")
    ocio = {"colorManagement": "OCIO", "workingSpaceLUT": "ACEScg"}
    custom = logic.NukeColour.from_root({**ocio, "OCIO_config": "custom", "customOCIOConfigPath": str(config)}, {}, "")
    assert (custom.config, custom.working_space) == (str(config), "ACEScg")
    bundled = tmp_path / "plugins" / "OCIOConfigs" / "configs" / "aces_1.2" / "config.ocio"
    bundled.parent.mkdir(parents=True)
    bundled.write_text("")
    assert logic.NukeColour.from_root({**ocio, "OCIO_config": "aces_1.2"}, {}, str(tmp_path)).config == str(bundled)
    assert logic.NukeColour.from_root({**ocio, "OCIO_config": "ocio://cg-config-latest"}, {}, "").config \
        == "ocio://cg-config-latest"
    assert logic.NukeColour.from_root({**ocio, "OCIO_config": "fn-nuke_unknown"}, {}, str(tmp_path)).config is None
    assert logic.NukeColour.from_root({"colorManagement": "Nuke"}, {}, "").config is None
    assert logic.NukeColour.from_root({"colorManagement": "Nuke"}, {"OCIO": "/s/env.ocio"}, "").config == "/s/env.ocio"
    assert [logic.read_colorspace(v) for v in ("default (ACES - ACEScg)", "default", "Output - sRGB", "")] == [
        "ACES - ACEScg", "", "Output - sRGB", ""]

    plan = logic.plate_plan("Read", {"file": "/p/a.%04d.dpx", "colorspace": "ACES - ACEScct", "frame_mode": "offset",
                                     "frame": "10"}, "/o", False, custom)
    assert (plan.render, plan.colorspace, plan.ocio_config, plan.offset) == (False, "ACES - ACEScct", str(config), 10)
    assert logic.plate_plan("Read", {"file": "/p/a.####.dpx"}, "/o", False, logic.NukeColour(None, "linear")).render
    rendered = logic.plate_plan("Grade", {}, "/o", False, custom)
    assert (rendered.render, rendered.colorspace) == (True, "ACEScg")  # the Write renders the working space
    settings = logic.Settings.from_knobs({"output_dir": "/o", "anchor_frame": 1011, "matte_exr": True},
                                         (1011, 1016), 1)
    argv = logic.engine_command(settings, plan, None, resume=False).argv()
    for flag, value in (("--input-colorspace", "ACES - ACEScct"), ("--ocio-config", str(config)),
                        ("--foreground-colorspace", "ACEScg")):
        assert argv[argv.index(flag) + 1] == value
    assert "--matte-exr" in argv and "--foreground" not in argv


def test_layered_exr_channels_as_nuke_shows_them(tmp_path, shot_exr):
    """The engine's matte EXR, read with OpenImageIO: Foundry's channel mapping gives rgba plus the gizmo's
    trimap layer and a foreground layer."""
    from conftest import run_api

    run_api(shot_exr, tmp_path / "out", frame_end=1001, matte_exr=True, foreground=True)
    names = read_pixels(tmp_path / "out" / "matte" / "001001.exr")[1].channelnames
    shown = {logic.nuke_channel(n) for n in names}
    assert shown == {"rgba.red", "rgba.green", "rgba.blue", "rgba.alpha", "trimap.Y", "foreground.red",
                     "foreground.green", "foreground.blue"}
    gizmo_text = (ROOT / "nuke_plugin" / "gizmos" / "VideomatteHQ.gizmo").read_text()
    assert "add_layer {trimap trimap.Y}" in gizmo_text  # one trimap channel whichever way the gizmo outputs


# --- the gizmo file ------------------------------------------------------------------------------------------

def test_gizmo_inputs_reads_and_graph():
    inputs = [n for n in GIZMO.children if n.cls == "Input"]
    assert [(n.name, n.knobs.get("number", "0")) for n in inputs] == [("Source", "0"), ("Anchor", "1")]
    assert GIZMO.knobs["inputs"] == "2"
    for name, knob in (("AlphaRead", "alpha_file"), ("TrimapRead", "trimap_file"), ("MatteRead", "matte_file")):
        read = INNER[name]
        assert read.knobs["raw"] == "true" and read.knobs["on_error"] == "black"
        assert read.knobs["file"] == f"[value parent.{knob}]"  # the engine's layout, set by Run
        for knob in ("first", "last", "origfirst", "origlast"):
            assert read.knobs[knob].strip("{} ") in ("parent.result_first", "parent.result_last")
        assert read.knobs["frame_mode"] == "offset" and read.knobs["frame"] == "[value parent.frame_offset]"
    apply_alpha, add_trimap, output = INNER["ApplyAlpha"], INNER["AddTrimap"], INNER["Output1"]
    assert apply_alpha.cls == add_trimap.cls == "ShuffleCopy"
    assert [n.name for n in apply_alpha.inputs] == ["Source", "MatteFromRed"]
    matte_from_red = INNER["MatteFromRed"]
    assert [n.name for n in matte_from_red.inputs] == ["AlphaRead"] and matte_from_red.knobs["alpha"] == "red"
    assert matte_from_red.knobs["disable"].strip("{} ") == "!parent.matte_in_red"
    assert apply_alpha.knobs["alpha"] == "alpha" and apply_alpha.knobs["in"] == "alpha"
    assert [n.name for n in add_trimap.inputs] == ["ApplyAlpha", "TrimapRead"] and add_trimap.knobs["out"] == "trimap"
    switch = INNER["UseMatteExr"]  # which 0: plate + alpha + trimap; 1: the layered EXR as the engine wrote it
    assert [n.name for n in switch.inputs] == ["AddTrimap", "MatteRead"]
    assert switch.cls == "Switch" and switch.knobs["which"].strip("{} ") == "parent.use_matte_exr"
    assert [n.name for n in output.inputs] == ["UseMatteExr"]


def test_every_knob_the_python_uses_exists():
    source = (ROOT / "nuke_plugin" / "videomatte_nuke" / "nuke_ops.py").read_text()
    used = set(nuke_ops.KNOBS) | set(re.findall(r'node\["(\w+)"\]', source))
    used |= set(logic.result_knobs((1, 2), logic.PlatePlan("", 0, False), {"alpha_pattern": "", "trimap_pattern": ""}))
    assert used - set(GIZMO.user_knobs) == set()
    assert set(re.findall(r'node\.node\("(\w+)"\)', source) + list(nuke_ops.RESULT_READS)) <= set(INNER)
    for name in ("run", "resume", "cancel", "export_farm"):
        knob = GIZMO.user_knobs[name]
        assert knob["type"] == 22
        for call in ast.walk(ast.parse(knob["script"])):
            if isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name) and call.value.id == "videomatte_nuke":
                assert call.attr in {"run", "cancel", "export_farm"} and hasattr(nuke_ops, call.attr)
    assert GIZMO.user_knobs["band"]["menu"] == ["narrow", "default", "wider", "maximum"]


# --- the Run flow against the real engine --------------------------------------------------------------------

def _gizmo_node(**overrides) -> fake_nuke.Node:
    defaults = {22: None, 20: None, 26: "", 6: False, 3: 0, 7: 0.0, 4: "", 2: "", 1: ""}
    knobs = {name: GIZMO.knobs.get(name, defaults.get(info["type"])) for name, info in GIZMO.user_knobs.items()}
    knobs.update(band="default", device="cpu", precision="auto", alpha_format="exr16", use_input_range=True,
                 segment_backend="flow", refine_backend="closed_form")  # weight-free: no model files here
    knobs.update(overrides)
    children = {name: fake_nuke.Node("Read", name, {"reload": None}) for name in nuke_ops.RESULT_READS}
    return fake_nuke.Node("Gizmo", "VideomatteHQ1", knobs, children=children)


@pytest.fixture
def nuke(monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", ENV["NUMBA_CACHE_DIR"])
    def install(**kwargs):
        module = fake_nuke.make_module(**kwargs)
        monkeypatch.setattr(nuke_ops, "nuke", module)
        return module
    return install


def _anchor_node(shot) -> fake_nuke.Node:
    mask = read_pixels(Path(shot["anchor"]))[0]
    return fake_nuke.Node("Roto", "Roto1", render=lambda frame: (mask, ("A",)))


def _wait(thread: threading.Thread | None) -> None:
    assert thread is not None
    thread.join(300)
    assert not thread.is_alive()


def _assert_reads_complete(node, frames: range) -> None:
    values = {k: knob.value() for k, knob in node.knobs.items()}
    assert (values["result_first"], values["result_last"]) == (frames[0], frames[-1])
    for name in ("AlphaRead", "TrimapRead"):
        pattern = tcl(INNER[name].knobs["file"], values)
        assert all(Path(sequence_path(pattern, f)).is_file() for f in frames), pattern
    assert all(node.node(name)["reload"].executed == 1 for name in nuke_ops.RESULT_READS)


def test_run_passes_source_read_and_reads_back(tmp_path, shot_png, nuke):
    module = nuke(current_frame=1011)
    source = fake_nuke.Node("Read", "Read1", {"file": shot_png["input"], "first": 1001, "last": 1006,
                                              "frame_mode": "offset", "frame": "10"}, frames=(1011, 1016))
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE)
    node.setInput(0, source)
    node.setInput(1, _anchor_node(shot_png))
    _wait(nuke_ops.run(node))
    assert node["status"].value() == "done: frames 1001-1006", module.calls
    assert node["frame_offset"].value() == 10
    _assert_reads_complete(node, range(1001, 1007))
    writes = [c[1] for c in module.calls if c[0] == "nodes.Write"]
    assert [w["channels"] for w in writes] == ["alpha"], "the Source Read is passed through, only the anchor renders"
    assert ("execute", "Write0", 1011, 1011) in module.calls and ("delete", "Write0") in module.calls
    task = module.ProgressTask.instances[0]
    assert task.progress == sorted(task.progress) and not [c for c in module.calls if c[0] == "message"]
    alpha, spec = read_pixels(tmp_path / "vm" / "alpha" / "001003.exr")
    assert list(spec.channelnames) == ["A"] and 0 < alpha.mean() < 1


def test_png_alpha_backends_and_extra_anchor_frames(tmp_path, shot_png, nuke):
    module = nuke(current_frame=1011)
    source = fake_nuke.Node("Read", "Read1", {"file": shot_png["input"], "first": 1001, "last": 1006,
                                              "frame_mode": "offset", "frame": "10"}, frames=(1011, 1016))
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE, alpha_format="png16",
                       extra_anchor_frames="1014")
    node.setInput(0, source)
    node.setInput(1, _anchor_node(shot_png))
    _wait(nuke_ops.run(node))
    assert node["status"].value() == "done: frames 1001-1006", module.calls
    assert [c[2:] for c in module.calls if c[0] == "execute"] == [(1011, 1011), (1014, 1014)]  # anchor, extra
    summary = json.loads((tmp_path / "vm" / "run_summary.json").read_text())
    assert sorted(summary["anchor"]["files"]) == ["1001", "1004"], "timeline 1014 is file frame 1004"
    assert summary["backends"]["segment"]["name"] == "flow"
    assert node["matte_in_red"].value() is True and node["alpha_file"].value().endswith(".png")
    _assert_reads_complete(node, range(1001, 1007))


def test_run_renders_non_read_source_to_linear_exr(tmp_path, shot_exr, nuke):
    module = nuke(current_frame=1001)
    plate = Path(shot_exr["input"]).parent

    def render(frame):
        return read_pixels(plate / f"plate.{frame}.exr")[0], ("R", "G", "B")

    grade = fake_nuke.Node("Grade", "Grade1", frames=(1001, 1012), render=render)
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE, use_input_range=False, first_frame=1001,
                       last_frame=1003)
    node.setInput(0, grade)
    node.setInput(1, _anchor_node(shot_exr))
    _wait(nuke_ops.run(node))
    assert node["status"].value() == "done: frames 1001-1003", module.calls
    assert ("execute", "Write0", 1001, 1003) in module.calls
    summary = json.loads((tmp_path / "vm" / "run_summary.json").read_text())
    assert summary["input"].endswith("plate/plate.####.exr") and summary["input_linear"] is True
    _assert_reads_complete(node, range(1001, 1004))


def test_layered_exr_run_switches_the_gizmo_output(tmp_path, shot_exr, nuke):
    module = nuke(current_frame=1001)
    source = fake_nuke.Node("Read", "Read1", {"file": shot_exr["input"], "first": 1001, "last": 1003},
                            frames=(1001, 1003))
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE, matte_exr=True, foreground=True)
    node.setInput(0, source)
    node.setInput(1, _anchor_node(shot_exr))
    _wait(nuke_ops.run(node))
    assert node["status"].value() == "done: frames 1001-1003", module.calls
    values = {k: knob.value() for k, knob in node.knobs.items()}
    assert values["use_matte_exr"] is True
    pattern = tcl(INNER["MatteRead"].knobs["file"], values)
    assert pattern == str(tmp_path / "vm" / "matte" / "######.exr")
    assert all(Path(sequence_path(pattern, f)).is_file() for f in range(1001, 1004))
    assert (tmp_path / "vm" / "foreground" / "001002.exr").is_file()
    _assert_reads_complete(node, range(1001, 1004))


def test_reads_colourspace_and_ocio_config_reach_the_engine(tmp_path, shot_exr, nuke, monkeypatch):
    """An OCIO-managed script: the Read's files go to the engine with its colourspace and the script's config,
    and the layered EXR comes back in the working space."""
    from test_colour_ocio import CONFIG

    monkeypatch.delenv("OCIO", raising=False)
    config = tmp_path / "show.ocio"
    config.write_text(CONFIG)
    module = nuke(current_frame=1001, root_knobs={"colorManagement": "OCIO", "OCIO_config": "custom",
                                                  "customOCIOConfigPath": str(config),
                                                  "workingSpaceLUT": "lin_rec709"})
    source = fake_nuke.Node("Read", "Read1", {"file": shot_exr["input"], "first": 1001, "last": 1002,
                                              "colorspace": "default (lin_rec709)"}, frames=(1001, 1002))
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE, matte_exr=True)
    node.setInput(0, source)
    node.setInput(1, _anchor_node(shot_exr))
    _wait(nuke_ops.run(node))
    assert node["status"].value() == "done: frames 1001-1002", module.calls
    assert not [c for c in module.calls if c[0] == "nodes.Write" and c[1]["channels"] != "alpha"]  # passed through
    colour = json.loads((tmp_path / "vm" / "run_summary.json").read_text())["colour"]
    assert (colour["ocio_config"], colour["input_space"], colour["chosen_by"]) == (str(config), "lin_rec709", "option")
    assert colour["foreground_space"] == "lin_rec709" and node["use_matte_exr"].value() is True


def test_cancel_then_resume(tmp_path, shot_exr, nuke):
    module = nuke(current_frame=1001, cancel_after=1)
    source = fake_nuke.Node("Read", "Read1", {"file": shot_exr["input"], "first": 1001, "last": 1012},
                            frames=(1001, 1012))
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE)
    node.setInput(0, source)
    node.setInput(1, _anchor_node(shot_exr))
    _wait(nuke_ops.run(node))
    assert node["status"].value() == "error: cancelled"
    assert any(c[0] == "message" and "Resume" in c[1] for c in module.calls)
    nuke(current_frame=1001)
    _wait(nuke_ops.run(node, resume=True))
    assert node["status"].value() == "done: frames 1001-1012"
    _assert_reads_complete(node, range(1001, 1013))


def test_setup_errors_show_in_a_message(tmp_path, shot_png, nuke):
    module = nuke(proxy=True)
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE)
    assert nuke_ops.run(node) is None and "connect the plate" in module.calls[-1][1]
    node.setInput(0, fake_nuke.Node("Read", "Read1", {"file": shot_png["input"]}, frames=(1001, 1006)))
    assert nuke_ops.run(node) is None and "proxy mode is on" in module.calls[-1][1]
    assert node["status"].value().startswith("error: proxy mode")


def test_export_farm_writes_an_openjd_bundle(tmp_path, shot_png, nuke):
    module = nuke(current_frame=1001)
    source = fake_nuke.Node("Read", "Read1", {"file": shot_png["input"], "first": 1001, "last": 1006},
                            frames=(1001, 1006))
    node = _gizmo_node(output_dir=str(tmp_path / "vm"), engine=ENGINE, chunk_size=4)
    node.setInput(0, source)
    node.setInput(1, _anchor_node(shot_png))
    path = Path(nuke_ops.export_farm(node))
    assert path == tmp_path / "vm" / "farm" / "openjd" / "template.yaml"
    template = yaml.safe_load(path.read_text())
    assert [s["name"] for s in template["steps"]] == ["Segment", "Refine", "Finalize"]
    chunks = template["steps"][1]["parameterSpace"]["taskParameterDefinitions"]
    assert [c["range"] for c in chunks] == [[1001, 1005], [1004, 1006]]
    values = {v["name"]: v["value"] for v in yaml.safe_load((path.parent / "parameter_values.yaml").read_text())[
        "parameterValues"]}
    assert Path(values["PlateDir"], values["PlateName"]) == Path(shot_png["input"])
    assert values["AnchorMask"] == str(tmp_path / "vm" / "anchor" / "anchor.1001.exr")
    assert "deadline bundle submit" in module.calls[-1][1]


def test_plugin_code_is_python_39_syntax():
    """Nuke 14/15 ship Python 3.9: everything the plugin loads must parse as 3.9 and defer annotations."""
    files = sorted((ROOT / "nuke_plugin").rglob("*.py")) + sorted((ROOT / "host_client").rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text(), feature_version=(3, 9))
        uses_union = any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(tree))
        future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
        assert future or not uses_union, f"{path}: `X | Y` annotations need `from __future__ import annotations`"
