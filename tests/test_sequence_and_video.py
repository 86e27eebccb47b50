"""Sequence patterns and frame numbers; video plates through PyAV."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import WEIGHT_FREE, encode_video, read_pixels, run_cli
from videomatte_hq.errors import VideomatteError
from videomatte_hq.io.sequence import parse_pattern
from videomatte_hq.io.source import open_source
from videomatte_hq.synthetic import render_frame


def _touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"")


@pytest.mark.parametrize("pattern,padding", [("shot.%04d.exr", 4), ("shot.####.exr", 4), ("shot.@@@@.exr", 4),
                                             ("shot.%d.exr", 0), ("shot.@.exr", 0), ("shot.######.exr", 6)])
def test_pattern_forms(tmp_path, pattern, padding):
    seq = parse_pattern(str(tmp_path / pattern))
    assert (seq.prefix, seq.suffix, seq.padding) == ("shot.", ".exr", padding)
    assert seq.path(1001).name == f"shot.{1001:0{padding}d}.exr"


def test_frames_come_from_files(tmp_path):
    _touch(tmp_path, "shot.0998.exr", "shot.0999.exr", "shot.1000.exr", "shot.10000.exr", "shot.1001.exr.tmp",
           "other.1000.exr", "shot.12.exr")
    assert parse_pattern(str(tmp_path / "shot.####.exr")).scan().frames == [998, 999, 1000, 10000]
    assert parse_pattern(str(tmp_path / "shot.@.exr")).scan().frames == [12, 998, 999, 1000, 10000]


def test_existing_frame_file_implies_its_sequence(tmp_path):
    _touch(tmp_path, "plate.1001.png", "plate.1002.png")
    seq = parse_pattern(str(tmp_path / "plate.1001.png")).scan()
    assert seq.frames == [1001, 1002] and seq.pattern.endswith("plate.####.png")


def test_duplicate_frame_numbers_rejected(tmp_path):
    _touch(tmp_path, "s.7.png", "s.07.png")
    with pytest.raises(VideomatteError, match="frame 7 exists twice"):
        parse_pattern(str(tmp_path / "s.@.png")).scan()


def _write_video(path, frames=8, width=96, height=64):
    encode_video(path, [(render_frame(height, width, i, frames)[0] * 255).round().astype(np.uint8)
                        for i in range(frames)])


def test_video_frames_forward_and_backward_agree(tmp_path):
    path = tmp_path / "clip.mp4"
    _write_video(path, frames=20)
    source = open_source(str(path), "auto", print)
    assert source.frames == list(range(20)) and (source.width, source.height) == (96, 64)
    assert source.linear is False
    forward = dict(source.iter_frames(source.frames))
    backward = list(source.iter_frames(source.frames[::-1]))
    assert [f for f, _ in backward] == list(range(19, -1, -1))
    for frame, image in backward:
        assert np.array_equal(image, forward[frame]), frame
    assert np.array_equal(source.read(13), forward[13])


def test_video_input_end_to_end(tmp_path, shot_png):
    path = tmp_path / "clip.mp4"
    _write_video(path, frames=6, width=80, height=48)
    out = tmp_path / "out"
    run_cli(*WEIGHT_FREE, "-i", path, "--anchor-mask", shot_png["anchor"], "-o", out, "--frame-start", 1, "--anchor-frame", 1,
            "--progress", "none", check=True)
    assert sorted(p.name for p in (out / "alpha").iterdir()) == [f"{f:06d}.png" for f in range(1, 6)]
    alpha, _ = read_pixels(out / "alpha" / "000005.png")
    assert alpha.shape == (48, 80, 1)
