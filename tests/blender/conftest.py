"""Runs inside real Blender (the `bpy` module, in its own venv: bpy 5.0.1 pins numpy 1.x, the engine needs 2.x).
Started by tests/test_blender_addon.py, which passes the generated shot and the engine command in the env."""

import os
import sys
import tempfile
from pathlib import Path

if "BLENDER_USER_RESOURCES" not in os.environ:  # before bpy: never the user's own Blender folders
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="vmhq-blender-user-")

import bpy  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ADDON = "videomatte_hq_blender"


def registered() -> bool:
    return hasattr(bpy.types, "VMHQ_OT_run_matte") or hasattr(bpy.types.NodeTree, "vmhq")


@pytest.fixture(scope="module")
def addon():
    import addon_utils

    sys.path.insert(0, str(ROOT / "blender_addon"))
    addon_utils.enable(ADDON, default_set=True, persistent=True, handle_error=None)
    assert addon_utils.check(ADDON) == (True, True)
    bpy.context.preferences.addons[ADDON].preferences.engine = os.environ["VMHQ_ENGINE"]
    yield sys.modules[ADDON]
    addon_utils.disable(ADDON, default_set=True)
    assert not registered(), "unregister() must remove every class and property"


@pytest.fixture(scope="session")
def shot() -> Path:
    return Path(os.environ["VMHQ_SHOT_DIR"])
