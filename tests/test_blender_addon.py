"""The Blender add-on: frame mapping (pure), and the in-Blender suite (tests/blender/) run in real bpy."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys

import pytest

from conftest import ENV, ROOT
from videomatte_hq.synthetic import make_example

# Blender 5.0 and the two LTS lines studios run, each in its own venv (README "Run the tests").
BLENDERS = {"5.0.1": ".venv-blender", "4.5.15": ".venv-blender45", "4.2.23": ".venv-blender42"}
spec = importlib.util.spec_from_file_location(
    "vmhq_blender_frames", ROOT / "blender_addon" / "videomatte_hq_blender" / "frames.py")
frames = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = frames
spec.loader.exec_module(frames)


def test_image_node_frame_mapping():
    plate = frames.ImageTiming(frame_start=1, frame_duration=6, frame_offset=1000)
    assert [plate.file_frame(f) for f in (0, 1, 3, 6, 9)] == [1001, 1001, 1003, 1006, 1006]  # clamped/held
    assert plate.scene_frame(1003) == 3 and plate.engine_range(1, 250) == (1001, 1006)
    shifted = frames.ImageTiming(frame_start=101, frame_duration=24, frame_offset=1000)
    assert shifted.engine_range(90, 110) == (1001, 1010) and shifted.scene_frame(1001) == 101
    movie = frames.ImageTiming(frame_start=1, frame_duration=48, frame_offset=0, movie=True)
    assert movie.engine_frame(1) == 0 and movie.scene_frame(0) == 1 and movie.engine_range(1, 10) == (0, 9)
    with pytest.raises(ValueError, match="outside the plate's frames 101-124"):
        shifted.engine_range(1, 50)


def test_output_folder_is_named_after_the_plate():
    assert frames.shot_name("/shots/sh010/sh010_plate.1001.exr") == "sh010_plate"
    assert frames.shot_name("C:/shots/sh020_bg_v003_0001.png") == "sh020_bg_v003"
    assert frames.shot_name("/movies/interview take 2.mov") == "interview take 2"
    assert frames.shot_name("/shots/1001.exr") == "1001"


@pytest.mark.parametrize("plate", [frames.ImageTiming(1, 6, 1000), frames.ImageTiming(101, 24, 1000),
                                   frames.ImageTiming(5, 48, 0, movie=True)])
def test_result_sequence_stays_in_sync_with_plate(plate):
    first, last = plate.engine_range(-1000, 1000)
    result = frames.result_timing(plate, first + 2, last)
    for scene in range(result.frame_start, result.frame_start + result.frame_duration):
        assert result.file_frame(scene) == plate.engine_frame(scene), "alpha file frame == plate's engine frame"


def _phone_clip(shot) -> None:
    """phone.mp4: the plate's frames flagged to play turned 90° clockwise, as a phone held upright writes them."""
    import av
    import OpenImageIO as oiio

    with av.open(str(shot / "phone.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 80, 48, "yuv420p"
        stream.set_display_rotation(-90)
        for path in sorted((shot / "plate").glob("*.png")):
            rgb = oiio.ImageBuf(str(path)).get_pixels(oiio.UINT8)[..., :3]
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("version", sorted(BLENDERS))
def test_addon_inside_real_blender(tmp_path, version):
    venv = BLENDERS[version]
    bpy_python = ROOT / venv / "bin" / "python"
    if not bpy_python.exists():
        pytest.fail(f"no Blender {version} Python at {bpy_python}: python3 -m venv {venv} && "
                    f"{venv}/bin/pip install bpy=={version} pytest")
    make_example(tmp_path / "shot", width=80, height=48, frames=6, fmt="png")
    _phone_clip(tmp_path / "shot")
    env = {**ENV, "VMHQ_SHOT_DIR": str(tmp_path / "shot"),
           "VMHQ_ENGINE": shlex.join([sys.executable, "-m", "videomatte_hq"]),
           "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user")}  # Blender's preferences and extensions
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(bpy_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--confcutdir",
                           str(ROOT / "tests" / "blender"), str(ROOT / "tests" / "blender")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout and "skipped" not in proc.stdout
    assert version in subprocess.run([str(bpy_python), "-c", "import bpy; print(bpy.app.version_string)"],
                                     capture_output=True, text=True, env=env, cwd=tmp_path).stdout
