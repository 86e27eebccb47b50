"""The extension zip (blender_addon/build.py: Blender's own validate + build) installs offline, registers
and unregisters cleanly."""

import sys

import addon_utils
import bpy
from conftest import ROOT, registered


def test_extension_zip_installs_and_unregisters(tmp_path):
    sys.path.insert(0, str(ROOT / "blender_addon"))
    from build import build

    zip_path = build(tmp_path / "dist")
    assert zip_path.name == "videomatte_hq-0.1.0.zip"
    assert not registered()
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    module = "bl_ext.user_default.videomatte_hq"
    assert module in sys.modules and registered()
    prefs = bpy.context.preferences.addons[module].preferences
    assert prefs.engine == "videomatte-hq" and prefs.output_root == "//videomatte"
    addon_utils.disable(module, default_set=True)
    assert not registered()
