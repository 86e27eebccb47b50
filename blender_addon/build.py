"""Build the installable extension zip: the add-on plus a copy of the engine-protocol client.

    python blender_addon/build.py [--blender-ext PATH/TO/blender_ext.py] [--out DIST]

The repository keeps one copy of `videomatte_client` (host_client/); the zip carries it in `vendor/`.
Validation and packing are Blender's own `blender_ext.py` (in any Blender 4.2+/5.x, or the `bpy` wheel).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADDON = HERE / "videomatte_hq_blender"
CLIENT = HERE.parent / "host_client" / "videomatte_client"


def find_blender_ext() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("bpy")  # the PyPI wheel ships Blender's scripts next to its module
    root = Path(spec.origin).parent if spec and spec.origin else Path()
    found = sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("blender_ext.py not found: pass --blender-ext")
    return found[-1]


def build(out: Path, blender_ext: Path | None = None) -> Path:
    tool = blender_ext or find_blender_ext()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "videomatte_hq"
        shutil.copytree(ADDON, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copytree(CLIENT, stage / "vendor" / "videomatte_client",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for command in (["validate", str(stage)], ["build", "--source-dir", str(stage), "--output-dir", str(out)]):
            subprocess.run([sys.executable, str(tool), *command], check=True)
    zips = sorted(out.glob("videomatte_hq-*.zip"))
    return zips[-1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--blender-ext", type=Path)
    parser.add_argument("--out", type=Path, default=HERE / "dist")
    args = parser.parse_args()
    print(build(args.out, args.blender_ext))
