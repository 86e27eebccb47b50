"""videomatte_hq's imports go one way: io -> models/backends -> plan -> pipeline -> api -> cli, no cycles."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT
from layering import cycles, imports, upward

PACKAGE = ROOT / "engine" / "videomatte_hq"
# Lowest first. A module may import from its own layer (no cycles) or lower ones.
LAYERS = [
    {"version", "errors"},
    {"fileio", "registry", "lock"},
    {"config", "io", "trimap", "torch_device", "models", "layout", "synthetic", "events", "report",
     "drift"},
    {"ultralytics_models", "anchor"},
    {"segment", "refine"},
    {"auto_anchor"},
    {"plan"},
    {"pipeline"},
    {"api"},
    {"farm"},
    {"cli", "__main__", "__init__"},
]


def test_engine_has_no_import_cycle_and_no_upward_import():
    graph = imports(PACKAGE)
    assert len(graph) > 30 and "videomatte_hq.plan" in graph["videomatte_hq.pipeline"]
    assert cycles(graph) == []
    assert upward(graph, LAYERS, "videomatte_hq") == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_check_finds_a_cycle_and_an_upward_import(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "low.py": "def f():\n    from . import high\n",
                               "high.py": "from .low import f\n", "sub/__init__.py": "",
                               "sub/a.py": "from ..high import x\n"})
    graph = imports(root)
    assert graph["pkg.low"] == {"pkg.high"} and graph["pkg.sub.a"] == {"pkg.high"}
    assert cycles(graph) == [["pkg.high", "pkg.low", "pkg.high"]]
    assert upward(graph, [{"low", "sub", "__init__"}, {"high"}], "pkg") == [
        "pkg.low (layer 0) imports pkg.high (layer 1)", "pkg.sub.a (layer 0) imports pkg.high (layer 1)"]


WEB = ROOT / "web" / "videomatte_hq_web"
WEB_LAYERS = [{"paths", "store", "previews"}, {"jobs"}, {"server"}, {"main", "__main__", "__init__"}]


def test_web_host_is_layered_and_the_engine_never_imports_a_host():
    graph = imports(WEB)
    assert cycles(graph) == [] and upward(graph, WEB_LAYERS, "videomatte_hq_web") == []
    engine_text = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    for host in ("videomatte_hq_web", "videomatte_client", "fastapi", "bpy", "import nuke"):
        assert host not in engine_text, host
