"""Sequence patterns and frame numbers; video plates through PyAV."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import OpenImageIO as oiio
import pytest

from conftest import ENV, WEIGHT_FREE, encode_video, read_pixels, run_api, run_cli
from videomatte_hq.anchor import load_anchor
from videomatte_hq.errors import VideomatteError
from videomatte_hq.io.images import read_image, write_image
from videomatte_hq.io.sequence import parse_pattern, sequences_in
from videomatte_hq.io.source import open_source
from videomatte_hq.synthetic import render_frame


def _touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"")


@pytest.mark.parametrize("pattern,padding", [("shot.%04d.exr", 4), ("shot.####.exr", 4), ("shot.@@@@.exr", 4),
                                             ("shot.%d.exr", 0), ("shot.@.exr", 0), ("shot.######.exr", 6),
                                             ("shot.$F4.exr", 4), ("shot.$F.exr", 0)])
def test_pattern_forms(tmp_path, pattern, padding):
    seq = parse_pattern(str(tmp_path / pattern))
    assert (seq.prefix, seq.suffix, seq.padding) == ("shot.", ".exr", padding)
    assert seq.path(1001).name == f"shot.{1001:0{padding}d}.exr"


def test_frames_come_from_files(tmp_path):
    _touch(tmp_path, "shot.0998.exr", "shot.0999.exr", "shot.1000.exr", "shot.10000.exr", "shot.1001.exr.tmp",
           "other.1000.exr", "shot.12.exr")
    assert parse_pattern(str(tmp_path / "shot.####.exr")).scan().frames == [998, 999, 1000, 10000]
    assert parse_pattern(str(tmp_path / "shot.@.exr")).scan().frames == [12, 998, 999, 1000, 10000]


@pytest.mark.parametrize("names", [("shot.-002.exr", "shot.-001.exr"), ("shot.-0002.exr", "shot.-0001.exr")])
def test_negative_frames(tmp_path, names):
    """Frames before 0 as printf's %04d spells them (Nuke, Houdini, OpenImageIO: -001) or with the padding's digits
    after the sign (-0001); each frame is read from the file found."""
    _touch(tmp_path, *names, "shot.0000.exr", "shot.0001.exr", "shot.-01.exr")
    seq = parse_pattern(str(tmp_path / "shot.####.exr")).scan()
    assert seq.frames == [-2, -1, 0, 1]
    assert [seq.path(f).name for f in (-2, -1, 0)] == [*names, "shot.0000.exr"]


def test_negative_frame_ranges_read_clearly(tmp_path):
    """A range with a negative end reads '-4 to -3', not '-4--3'."""
    for name in ("shot.-002.png", "shot.-001.png", "shot.0000.png"):
        write_image(tmp_path / name, np.zeros((4, 4, 3), np.float32), "uint8", ("R", "G", "B"))
    source = open_source(str(tmp_path / "shot.####.png"), "auto", print)
    with pytest.raises(VideomatteError, match=r"missing frames -4 to -3, 1-2 in"):
        source.check([-4, -3, -2, 1, 2], False)


def test_a_sequence_with_its_range_as_nuke_writes_it(tmp_path):
    for frame in (-1, 0, 1, 2, 3):
        write_image(tmp_path / f"shot.{frame:04d}.png", np.zeros((4, 4, 3), np.float32), "uint8", ("R", "G", "B"))
    assert open_source(f"{tmp_path / 'shot.####.png'} 1-2", "auto", print).frames == [1, 2]
    assert open_source(f"{tmp_path / 'shot.%04d.png'} -1-0", "auto", print).frames == [-1, 0]
    with pytest.raises(VideomatteError, match=r"frames 4-5 are missing \(the input has frames -1 to 3\)") as error:
        open_source(f"{tmp_path / 'shot.####.png'} 2-5", "auto", print)
    assert error.value.code == "missing_frames"
    with pytest.raises(VideomatteError, match="the range 3-1 is empty") as error:
        open_source(f"{tmp_path / 'shot.####.png'} 3-1", "auto", print)
    assert error.value.hint.endswith("shot.####.png 1-3")
    (tmp_path / "take 2-3").mkdir()  # a folder whose name ends like a range is a path, not a range
    with pytest.raises(VideomatteError, match="is a folder"):
        open_source(str(tmp_path / "take 2-3"), "auto", print)


def test_existing_frame_file_implies_its_sequence(tmp_path):
    _touch(tmp_path, "plate.1001.png", "plate.1002.png")
    seq = parse_pattern(str(tmp_path / "plate.1001.png")).scan()
    assert seq.frames == [1001, 1002] and seq.pattern.endswith("plate.####.png")


def test_one_image_without_a_frame_number_is_named(tmp_path):
    write_image(tmp_path / "hero.exr", np.zeros((4, 4, 3), np.float32), "half", ("R", "G", "B"))
    with pytest.raises(VideomatteError, match="hero.exr is one image with no frame number") as error:
        open_source(str(tmp_path / "hero.exr"), "auto", print)
    assert error.value.hint.endswith(f"copy it as {tmp_path / 'hero.1001.exr'} and give that")


def test_a_folder_as_input_names_its_sequences(tmp_path):
    _touch(tmp_path, "plate.1001.exr", "plate.1002.exr", "plate.1004.exr", "ref.1.jpg", "notes.txt")
    with pytest.raises(VideomatteError, match="is a folder") as error:
        open_source(str(tmp_path), "auto", print)
    assert error.value.hint == f"give its sequence: {tmp_path / 'plate.####.exr'} (1001-1002, 1004) or " \
                               f"{tmp_path / 'ref.#.jpg'} (1)"


def test_a_pattern_that_matches_nothing_names_the_nearest_sequences(tmp_path):
    """The scanner's `.EXR`, a padding of five for four, a version that is not there: the hint names what the folder
    holds, the nearest first; a folder that is not there is said to be missing."""
    _touch(tmp_path, "plate.1001.EXR", "plate.1002.EXR", "sh010_v2.0001.exr", "notes.txt")
    for pattern, first in (("plate.####.exr", "plate.####.EXR"), ("sh010_v3.%05d.exr", "sh010_v2.####.exr")):
        with pytest.raises(VideomatteError, match="no frames found") as error:
            open_source(str(tmp_path / pattern), "auto", print)
        assert error.value.hint.startswith(f"its folder holds {tmp_path / first} (")
    assert "(1001-1002)" in error.value.hint and error.value.hint.count(" or ") == 1
    with pytest.raises(VideomatteError, match="the folder .*gone does not exist") as error:
        open_source(str(tmp_path / "gone" / "plate.####.exr"), "auto", print)
    assert error.value.hint == f"check the path (the nearest existing folder is {tmp_path})"


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


def test_animated_gif_is_a_clip(tmp_path):
    """An animated GIF is read as a clip, every frame in order (OpenImageIO alone would give its first frame as one
    image), each as FFmpeg decodes it (the palette's colours)."""
    import av

    frames = [np.zeros((32, 48, 3), np.uint8) for _ in range(5)]
    for i, rgb in enumerate(frames):
        rgb[:, 8 * i:8 * i + 8] = (255, 255, 255)  # a white bar moving right over black
    with av.open(str(tmp_path / "ref.gif"), "w") as container:
        stream = container.add_stream("gif", rate=12)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "rgb8"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    source = open_source(str(tmp_path / "ref.gif"), "auto", print)
    assert source.kind == "video" and source.frames == list(range(5)) and (source.width, source.height) == (48, 32)
    with av.open(str(tmp_path / "ref.gif")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    for frame, image in source.iter_frames(source.frames):
        assert np.array_equal((image * 255).round().astype(np.uint8), decoded[frame]), frame
        assert np.flatnonzero(image[0, :, 0] > 0.5).tolist() == list(range(8 * frame, 8 * frame + 8)), frame


def test_video_input_end_to_end(tmp_path, shot_png):
    path = tmp_path / "clip.mp4"
    _write_video(path, frames=6, width=80, height=48)
    out = tmp_path / "out"
    run_cli(*WEIGHT_FREE, "-i", path, "--anchor-mask", shot_png["anchor"], "-o", out, "--frame-start", 1, "--anchor-frame", 1,
            "--progress", "none", check=True)
    assert sorted(p.name for p in (out / "alpha").iterdir()) == [f"{f:06d}.png" for f in range(1, 6)]
    alpha, _ = read_pixels(out / "alpha" / "000005.png")
    assert alpha.shape == (48, 80, 1)


def test_damaged_video_frame_is_named(tmp_path):
    """A packet the decoder refuses: the full preflight names its frame before anything is written, and a run
    that skipped that check stops there instead of leaving the frame out."""
    import av

    path = tmp_path / "clip.mp4"
    _write_video(path, frames=12)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
        container.seek(0)
        damaged = next(p for p in container.demux(stream) if p.size and p.pts == pts[6])
        at, size = damaged.pos, damaged.size
    data = bytearray(path.read_bytes())
    data[at:at + size] = bytes(size)
    path.write_bytes(bytes(data))
    source = open_source(str(path), "auto", print)
    with pytest.raises(VideomatteError, match="frame 6 of .*clip.mp4 could not be decoded"):
        source.check(source.frames, True)
    source.check(source.frames, False)
    frames = []
    with pytest.raises(VideomatteError, match="frame 6 of"):
        frames.extend(f for f, _ in source.iter_frames(source.frames))
    assert frames == list(range(len(frames))) and len(frames) <= 6  # those before it, in order (B-frames may wait)
    with pytest.raises(VideomatteError, match="frame 6 of"):
        list(source.iter_frames(source.frames[::-1]))


def _mux_frames(container, stream, frames=4):
    """The synthetic shot's `frames` frames at the stream's size, encoded into `container`, the encoder flushed."""
    import av

    for i in range(frames):
        rgb = (render_frame(stream.height, stream.width, i, frames)[0] * 255).round().astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def _trim_by_edit_list(path, frames):
    """Start the mp4's picture `frames` frames later by its edit list, as an editor's trim without re-encoding
    does: the packets before the new start stay in the file, flagged to be decoded but not shown."""
    import struct

    data = bytearray(path.read_bytes())
    mdhd, elst = data.find(b"mdhd"), data.find(b"elst")
    assert data[mdhd + 4] == 0 and data[elst + 4] == 0  # version-0 boxes, as the mp4 muxer writes short clips
    timescale = struct.unpack_from(">I", data, mdhd + 16)[0]
    media_time = struct.unpack_from(">i", data, elst + 16)[0]
    struct.pack_into(">i", data, elst + 16, media_time + frames * timescale // 24)
    path.write_bytes(bytes(data))


def test_video_trimmed_by_an_edit_list(tmp_path):
    """A clip trimmed by its edit list: the frames before the trim are not frames of the shot (they were counted,
    and frame 0 then failed to decode); frame 0 is the first shown, pixel for pixel, forward and backward."""
    whole, trimmed = tmp_path / "whole.mp4", tmp_path / "trimmed.mp4"
    _write_video(whole, frames=12)
    trimmed.write_bytes(whole.read_bytes())
    _trim_by_edit_list(trimmed, 3)
    source = open_source(str(trimmed), "auto", print)
    assert source.frames == list(range(9))
    source.check(source.frames, True)
    expected = dict(open_source(str(whole), "auto", print).iter_frames(list(range(3, 12))))
    for frames in (source.frames, source.frames[::-1]):
        for frame, image in source.iter_frames(frames):
            assert np.array_equal(image, expected[frame + 3]), frame


@pytest.mark.parametrize("name, fmt, decode_order", [("bframes.avi", None, True), ("raw.h264", "h264", True),
                                                     ("bframes.mp4", None, False)])
def test_video_without_presentation_times(tmp_path, name, fmt, decode_order):
    """H.264 with B-frames in AVI carries decode times as its pts, and a raw H.264 stream none (before: frame 1
    'could not be decoded', and 'no decodable frames'): frames are numbered as the decoder puts them out, as
    FFmpeg does, forward, backward and picked, with a warning saying so. B-frames in an MP4 keep the seeks."""
    import av

    path = tmp_path / name
    encode_video(path, [(render_frame(64, 96, i, 12)[0] * 255).round().astype(np.uint8) for i in range(12)], fmt,
                 **{"x264-params": "bframes=2:b-adapt=0"})
    with av.open(str(path)) as container:
        shown = list(container.decode(video=0))
    expected = [frame.to_ndarray(format="rgb24").astype(np.float32) / 255 for frame in shown]
    assert all(np.abs(a - b).max() > 0.02 for a, b in zip(expected, expected[1:]))  # no two frames alike
    warnings = []
    source = open_source(str(path), "auto", warnings.append)
    assert source.frames == list(range(12)) and source.video.in_decode_order is decode_order
    assert any(w.startswith(f"{name} has no presentation times to order its frames by") for w in warnings) \
        is decode_order
    source.check(source.frames, True)
    for frames in (source.frames, source.frames[::-1], [7, 2, 9]):
        for frame, image in source.iter_frames(frames):
            assert np.array_equal(image, expected[frame]), (frames, frame)


def test_rotated_video_is_matted_turned(tmp_path):
    """A phone clip flagged to play turned 90° clockwise (-90, as a phone held upright writes it) is read turned,
    as players and Blender 4.4+ show it: each frame is the stored one turned, forward and backward, with a warning
    naming the turn; an anchor drawn over the unturned picture is refused with that reason. With video_rotation
    ignore it is read as stored (as FFmpeg decodes it), silently; an unflagged clip warns nothing."""
    import av

    def clip(name, rotation):
        with av.open(str(tmp_path / name), "w") as container:
            stream = container.add_stream("libx264", rate=24, options={"g": "2"})
            stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
            if rotation:
                stream.set_display_rotation(rotation)
            _mux_frames(container, stream)
        return tmp_path / name

    def opened(path, video_rotation="auto"):
        warnings = []
        return open_source(str(path), "auto", warnings.append, video_rotation=video_rotation), warnings

    (phone, warnings), (stored, quiet) = opened(clip("phone.mp4", -90)), opened(tmp_path / "phone.mp4", "ignore")
    assert (phone.width, phone.height) == (64, 96) and (stored.width, stored.height) == (96, 64) and not quiet
    with av.open(str(tmp_path / "phone.mp4")) as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(stored.read(0), decoded.astype(np.float32) / 255)
    unturned = dict(stored.iter_frames(stored.frames))
    for frames in (phone.frames, phone.frames[::-1]):
        for frame, image in phone.iter_frames(frames):
            assert image.flags.c_contiguous and np.array_equal(image, np.rot90(unturned[frame], -1)), frame
    assert len(warnings) == 1 and "phone.mp4 is flagged to play turned 90° clockwise" in warnings[0]
    assert "matted turned, 64x96" in warnings[0]
    assert not opened(clip("upright.mp4", 0))[1]
    drawn = tmp_path / "unturned.png"
    write_image(drawn, np.pad(np.ones((16, 16), np.float32), ((24, 24), (40, 40))), "uint8", ("Y",))
    with pytest.raises(VideomatteError, match=r"is 96x64 but the plate is 64x96 \(different aspect ratio, turned") \
            as error:
        load_anchor(drawn, 64, 96, print)
    assert "draw the anchor on the plate as players show it" in error.value.hint


def _with_display_matrix(path, target, matrix):
    """`path` with its track's display matrix (tkhd, 16.16 fixed point as a, b, c, d: x' = a x + c y) set, into
    `target`: a mirror or an odd angle, which PyAV cannot write."""
    import struct

    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert data[tkhd + 4] == 0  # a version-0 box, as the mp4 muxer writes short clips
    a, b, c, d = (round(v * 65536) for v in matrix)
    struct.pack_into(">9i", data, tkhd + 44, a, b, 0, c, d, 0, 0, 0, 1 << 30)
    target.write_bytes(bytes(data))


def test_display_matrices_as_blender_shows_them(tmp_path):
    """A mirror in a display matrix (a front camera) and a rotation that is not a quarter turn: matted as Blender
    4.4+ shows them (checked in bpy 4.5.15 and 5.0.1: quarter turns by the matrix's angle only, a mirror not
    applied, any other angle as stored), each with a warning; a turn of 60° was rounded to 90° before."""
    _write_video(tmp_path / "plain.mp4", frames=3)
    stored = dict(open_source(str(tmp_path / "plain.mp4"), "auto", print).iter_frames([0, 1, 2]))
    cos, sin = np.cos(np.radians(60)), np.sin(np.radians(60))
    cases = {"hflip": ((-1, 0, 0, 1), 2, "mirrored"), "vflip": ((1, 0, 0, -1), 0, "mirrored"),
             "front": ((0, 1, 1, 0), 3, "mirrored"), "odd": ((cos, sin, -sin, cos), 0, "rotated 60° clockwise")}
    for name, (matrix, turns, said) in cases.items():
        _with_display_matrix(tmp_path / "plain.mp4", tmp_path / f"{name}.mp4", matrix)
        warnings = []
        source = open_source(str(tmp_path / f"{name}.mp4"), "auto", warnings.append)
        for frame, image in source.iter_frames([2, 0]):
            assert np.array_equal(image, np.rot90(stored[frame], turns)), name
        assert f"{name}.mp4 is flagged to play {said}" in warnings[0] and "as Blender shows it" in warnings[0]
        assert len(warnings) == 1 + bool(turns)  # and the turn's own
        quiet = []
        assert np.array_equal(open_source(str(tmp_path / f"{name}.mp4"), "auto", quiet.append,
                                          video_rotation="ignore").read(1), stored[1]) and not quiet


def test_interlaced_video_is_warned_about(tmp_path):
    """1080i broadcast or DV footage: each frame two woven fields, read as stored (FFmpeg's decode), with a warning
    that the matte will comb where the subject moves and how to deinterlace; a progressive clip says nothing."""
    import av

    encode_video(tmp_path / "field.mp4", [(render_frame(64, 96, i, 4)[0] * 255).round().astype(np.uint8)
                                          for i in range(4)], None, **{"x264-params": "interlaced=1:tff=1"})
    warnings = []
    source = open_source(str(tmp_path / "field.mp4"), "auto", warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith("field.mp4 is interlaced: each frame is two fields woven")
    assert "-vf bwdif" in warnings[0]
    with av.open(str(tmp_path / "field.mp4")) as container:
        decoded = next(container.decode(video=0))
    assert decoded.interlaced_frame
    assert np.array_equal(source.read(0), decoded.to_ndarray(format="rgb24").astype(np.float32) / 255)
    _write_video(tmp_path / "progressive.mp4", frames=2)
    quiet = []
    open_source(str(tmp_path / "progressive.mp4"), "auto", quiet.append)
    assert not quiet


def test_untagged_hd_video_is_read_as_bt709(tmp_path):
    """One lossless frame of BT.709 green (Y'CbCr 173, 42, 26): an HD stream that does not say its matrix is read
    as BT.709, as players and hosts read it (swscale's BT.601 default gave red 20, blue 9); a standard-definition
    one, or one tagged BT.601, stays BT.601."""
    import av

    def green(name, width, height, matrix):
        with av.open(str(tmp_path / name), "w") as container:
            stream = container.add_stream("libx264", rate=24, options={"crf": "0"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
            stream.codec_context.colorspace = matrix
            frame = av.VideoFrame(width, height, "yuv444p")
            for plane, value in zip(frame.planes, (173, 42, 26)):
                plane.update(np.full((plane.height, plane.line_size), value, np.uint8).tobytes())
            for packet in [*stream.encode(frame), *stream.encode()]:
                container.mux(packet)
        return np.round(open_source(str(tmp_path / name), "auto", print).read(0)[0, 0] * 255).tolist()

    assert green("hd.mp4", 1280, 720, 2) == [0, 255, 1]  # 2: unspecified
    assert green("sd.mp4", 64, 48, 2) == [20, 255, 9]
    assert green("hd601.mp4", 1280, 720, 6) == [20, 255, 9]  # 6: SMPTE 170M (BT.601)


def test_video_in_a_container_named_otherwise_and_camera_raw(tmp_path):
    """A file no image reader takes is opened as a video (an AVCHD .MTS, a .ts); one FFmpeg does not read either (a
    camera raw R3D) is refused naming its kind, and how to convert it, instead of being read as a frame of a
    sequence that OpenImageIO then refused."""
    _write_video(tmp_path / "clip.mp4", frames=3)
    (tmp_path / "00001.MTS").write_bytes((tmp_path / "clip.mp4").read_bytes())
    (tmp_path / "00002.MTS").write_bytes((tmp_path / "clip.mp4").read_bytes())
    source = open_source(str(tmp_path / "00001.MTS"), "auto", print)
    assert source.kind == "video" and source.frames == [0, 1, 2]
    assert parse_pattern(str(tmp_path / "00001.MTS")) is None and sequences_in(tmp_path) == []  # clips, not frames
    (tmp_path / "A001_C002.R3D").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(VideomatteError, match="neither OpenImageIO nor FFmpeg reads .R3D files") as error:
        open_source(str(tmp_path / "A001_C002.R3D"), "auto", print)
    assert "camera raw" in error.value.hint and "EXR" in error.value.hint


def test_video_with_a_cover_picture_stream_first(tmp_path):
    """A file whose first video stream is a one-frame cover picture: the shot is the stream FFmpeg picks, not
    stream 0 (a 32x32 still)."""
    import av

    path = tmp_path / "cover.mkv"
    with av.open(str(path), "w") as container:
        cover, shot = container.add_stream("mjpeg", rate=1), container.add_stream("libx264", rate=24)
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        shot.width, shot.height, shot.pix_fmt = 96, 64, "yuv420p"
        still = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24").reformat(format="yuvj420p")
        for packet in [*cover.encode(still), *cover.encode()]:
            container.mux(packet)
        _mux_frames(container, shot)
    source = open_source(str(path), "auto", print)
    assert (source.width, source.height, source.frames) == (96, 64, [0, 1, 2, 3])
    assert [frame for frame, _ in source.iter_frames([3, 2, 1, 0])] == [3, 2, 1, 0]


def test_variable_frame_rate_video_is_warned(tmp_path):
    """A phone clip's variable frame rate (a 40 ms and two 10 ms frames among 20 ms ones): its frames are numbered
    in the order shown, each once, and the warning says a host that places frames by time shows others. A
    23.976 fps Matroska file, whose millisecond clock gives 41 and 42 ms frames, is constant: no warning."""
    import fractions

    import av

    def clip(name, durations, rate, time_base):
        with av.open(str(tmp_path / name), "w") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.codec_context.time_base = time_base
            pts = 0
            for i, duration in enumerate(durations):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
                frame.pts, frame.time_base, pts = pts, time_base, pts + duration
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        warnings = []
        return open_source(str(tmp_path / name), "auto", warnings.append), warnings

    durations = [20, 20, 20, 40, 20, 20, 10, 10, 20, 20, 20, 20]
    phone, warnings = clip("phone.mp4", durations, 50, fractions.Fraction(1, 1000))
    assert phone.frames == list(range(12))
    levels = [round(float(image.mean()) * 255 / 20) for _, image in phone.iter_frames(phone.frames)]
    assert levels == list(range(12)), "every frame once, in the order shown"
    assert len(warnings) == 1 and "phone.mp4 has a variable frame rate: " in warnings[0]
    assert "frames are numbered in the order shown (0-11)" in warnings[0] and "-fps_mode cfr" in warnings[0]
    film, none = clip("film.mkv", [1001] * 12, fractions.Fraction(24000, 1001), fractions.Fraction(1, 24000))
    assert film.frames == list(range(12)) and not none


def _write_exr(path, pixels, names, window, display=(0, 0, 64, 48), formats=None):
    """An EXR whose data window `window` (x, y, w, h) holds `pixels` in the `display` window."""
    x, y, width, height = window
    spec = oiio.ImageSpec(width, height, len(names), oiio.HALF)
    spec.channelnames = names
    if formats:
        spec.channelformats = formats
    spec.x, spec.y = x, y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    out.close()


# A render's bounding box per frame (the data window: overscan, the whole frame, a box inside it) and its other
# layers beside RGBA; every file has the 64x48 display window.
WINDOWS = {1: (-4, -3, 72, 54), 2: (0, 0, 64, 48), 3: (10, 6, 40, 30)}
LAYERED = ("R", "G", "B", "A", "diffuse.R", "diffuse.G", "diffuse.B", "Z")


def _layered_shot(folder):
    """Frames written from one 72x54 render (display window at (4, 3) in it); what each frame shows in its
    64x48 display window, as half floats."""
    expected = {}
    for frame, (x, y, width, height) in WINDOWS.items():
        render = render_frame(54, 72, frame, 3)[0] ** 2.2  # scene-linear
        layers = np.concatenate([render, np.ones((54, 72, 1)), render[:, :, ::-1], np.full((54, 72, 1), 7.0)], 2)
        stored = layers[y + 3:y + 3 + height, x + 4:x + 4 + width]
        _write_exr(folder / f"render.{frame:04d}.exr", stored, LAYERED, (x, y, width, height),
                   formats=[oiio.HALF] * 7 + [oiio.FLOAT])
        shown = np.zeros((48, 64, 3), np.float16)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + width, 64), min(y + height, 48)
        shown[y0:y1, x0:x1] = render[y0 + 3:y1 + 3, x0 + 4:x1 + 4]
        expected[frame] = shown
    return expected


def test_exr_windows_and_layers(tmp_path):
    """A plate is its display window (zeros outside a frame's data window, overscan left out: as Nuke reads
    it); only its colour channels are decoded (in half, though its Z layer is float)."""
    expected = _layered_shot(tmp_path)
    warnings = []
    source = open_source(str(tmp_path / "render.####.exr"), "auto", warnings.append)
    assert (source.width, source.height) == (64, 48)
    assert any("overscan" in w and "render.0001.exr" in w for w in warnings), warnings
    raw, spec = read_image(tmp_path / "render.0003.exr", keep_half=True, colour=True)
    assert raw.shape == (48, 64, 3) and raw.dtype == np.float16 and spec.nchannels == 8
    assert np.array_equal(raw, expected[3])
    for full in (False, True):
        source.check([1, 2, 3], full)
    for decoded in source.iter_decoded([1, 2, 3]):
        assert np.array_equal(decoded.rgb, source.colour.to_model(expected[decoded.frame])[0]), decoded.frame


def test_exr_bounding_box_end_to_end(tmp_path):
    """The whole run on bounding-boxed plates, with an anchor exported as an EXR with a bounding box of its own:
    the anchor is read in its display window, the alpha written at the plate's 64x48."""
    _layered_shot(tmp_path)
    alpha = render_frame(54, 72, 1, 3)[1][3:51, 4:68]
    _write_exr(tmp_path / "anchor.exr", alpha[4:44, 6:60, None], ("A",), (6, 4, 54, 40))
    boxed = np.zeros((48, 64), np.float32)
    boxed[4:44, 6:60] = alpha[4:44, 6:60].astype(np.float16)
    assert np.array_equal(load_anchor(tmp_path / "anchor.exr", 64, 48, print), boxed)
    report = run_api({"input": tmp_path / "render.####.exr", "anchor": tmp_path / "anchor.exr"}, tmp_path / "out")
    assert report.status == "ok" and report.frame_count == 3
    assert read_pixels(tmp_path / "out" / "alpha" / "000003.png")[0].shape == (48, 64, 1)


def test_multi_part_exr_reads_the_beauty_part(tmp_path):
    """A multi-part render whose first part is its depth (one float channel, another data window): the plate is
    the part with R, G and B, and the whole run mattes it."""
    rgb = render_frame(48, 64, 1, 3)[0].astype(np.float16)
    parts = [("depth", ("Z",), oiio.FLOAT, np.full((30, 40, 1), 7.0), (10, 6, 40, 30)),
             ("rgba", ("R", "G", "B", "A"), oiio.HALF, np.dstack([rgb, np.ones((48, 64))]), (0, 0, 64, 48)),
             ("diffuse", ("R", "G", "B"), oiio.HALF, rgb[:, :, ::-1], (0, 0, 64, 48))]
    for frame in (1, 2):
        path, specs = str(tmp_path / f"parts.{frame:04d}.exr"), []
        for name, channels, fmt, _, (x, y, width, height) in parts:
            spec = oiio.ImageSpec(width, height, len(channels), fmt)
            spec.channelnames, spec.x, spec.y = channels, x, y
            spec.full_width, spec.full_height = 64, 48
            spec.attribute("name", name)
            specs.append(spec)
        out = oiio.ImageOutput.create(path)
        for index, (spec, part) in enumerate(zip(specs, parts)):
            assert out.open(path, specs) if index == 0 else out.open(path, spec, "AppendSubimage"), out.geterror()
            assert out.write_image(np.ascontiguousarray(part[3], np.float32)), out.geterror()
        out.close()
    raw, spec = read_image(tmp_path / "parts.0001.exr", keep_half=True, colour=True)
    assert spec.getattribute("name") == "rgba" and raw.dtype == np.float16 and np.array_equal(raw, rgb)
    write_image(tmp_path / "anchor.png", (render_frame(48, 64, 1, 3)[1] > 0.5).astype(np.float32), "uint8", ("Y",))
    report = run_api({"input": tmp_path / "parts.####.exr", "anchor": tmp_path / "anchor.png"}, tmp_path / "out")
    assert report.status == "ok" and report.plate_size == [64, 48] and report.frame_count == 2


def test_layered_exr_without_plain_rgb(tmp_path):
    """No R, G, B: the plate is the colour layer named combined/beauty/rgba (a Blender multilayer EXR) or the only
    colour layer, said in a warning; several others are refused, naming them. Before, the first three channels
    were taken (here depth.Z and two of another layer's)."""
    rgb = render_frame(48, 64, 1, 3)[0]
    blender = ("ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B", "ViewLayer.Combined.A",
               "ViewLayer.DiffCol.R", "ViewLayer.DiffCol.G", "ViewLayer.DiffCol.B", "ViewLayer.Depth.Z")
    layouts = {"blender": (blender, [rgb, np.ones((48, 64, 1)), rgb[:, :, ::-1], np.full((48, 64, 1), 9.0)]),
               "one": (("depth.Z", "diffuse.R", "diffuse.G", "diffuse.B"), [np.full((48, 64, 1), 9.0), rgb]),
               "two": (("diffuse.R", "diffuse.G", "diffuse.B", "specular.R", "specular.G", "specular.B"), [rgb, rgb])}
    for name, (channels, pixels) in layouts.items():
        (tmp_path / name).mkdir()
        _write_exr(tmp_path / name / "r.0001.exr", np.concatenate(pixels, 2), channels, (0, 0, 64, 48))
    for name, layer in (("blender", "ViewLayer.Combined"), ("one", "diffuse")):
        warnings = []
        source = open_source(str(tmp_path / name / "r.####.exr"), "auto", warnings.append)
        assert warnings == [f"r.0001.exr has no R, G, B channels: the plate is its {layer} layer"]
        raw = read_image(tmp_path / name / "r.0001.exr", keep_half=True, colour=True)[0]
        assert np.array_equal(raw, rgb.astype(np.float16)) and source.half
    with pytest.raises(VideomatteError, match=r"several colour layers \(diffuse, specular\)"):
        open_source(str(tmp_path / "two" / "r.####.exr"), "auto", print)


def test_colour_channels_as_other_writers_spell_them(tmp_path):
    """`r, g, b`, `red, green, blue, alpha`, `diffuse.red, ...` are the colour (before, the plate was read as the
    grey of its first channel, silently: its red); channels with no colour name are read as the grey of the first,
    with a warning naming them. An anchor's `alpha` or `a` is its matte."""
    rgb = render_frame(48, 64, 1, 3)[0]
    cases = {"lower": (("r", "g", "b"), ""), "words": (("red", "green", "blue", "alpha"), ""),
             "layer": (("diffuse.red", "diffuse.green", "diffuse.blue"), "diffuse layer"),
             "unnamed": (("X", "Z", "W"), "first channel, X, as grey (of X, Z, W)")}
    for name, (channels, which) in cases.items():
        (tmp_path / name).mkdir()
        pixels = np.concatenate([rgb, np.ones((48, 64, len(channels) - 3))], 2)
        _write_exr(tmp_path / name / "r.0001.exr", pixels, channels, (0, 0, 64, 48))
        warnings = []
        open_source(str(tmp_path / name / "r.####.exr"), "auto", warnings.append)
        assert warnings == ([f"r.0001.exr has no R, G, B channels: the plate is its {which}"] if which else [])
        raw = read_image(tmp_path / name / "r.0001.exr", colour=True)[0]
        assert np.array_equal(raw, rgb.astype(np.float16).astype(np.float32)[:, :, :1 if name == "unnamed" else 3])
    roto = (render_frame(48, 64, 1, 3)[1] > 0.5).astype(np.float32)
    for channels in (("red", "green", "blue", "alpha"), ("r", "g", "b", "a")):
        _write_exr(tmp_path / "anchor.exr", np.dstack([rgb, roto]), channels, (0, 0, 64, 48))
        assert np.array_equal(load_anchor(tmp_path / "anchor.exr", 64, 48, print), roto)


@pytest.mark.parametrize("name, tile", [("scan.exr", None), ("tiled.exr", (24, 40)), ("tiled.tif", (32, 48)),
                                        ("plain.png", None)])
def test_full_check_decodes_every_band(tmp_path, name, tile):
    """The full preflight decodes a frame a band of rows at a time (scanlines, or whole rows of tiles from the
    data window's corner): a good file passes, one whose last rows are damaged is named, as a whole-frame read
    names it; a header check does not see it."""
    from videomatte_hq.io.images import check_image

    rng = np.random.default_rng(3)
    pixels = rng.random((700, 72, 3)).astype(np.float32)
    paths = [tmp_path / name.replace(".", f".{frame:04d}.") for frame in (1, 2)]
    for path in paths:
        spec = oiio.ImageSpec(72, 700, 3, oiio.HALF if name.endswith(".exr") else oiio.UINT16)
        spec.y, spec.full_y, spec.full_height = 5, 5, 700  # a data window off (0, 0)
        if tile:
            spec.tile_width, spec.tile_height = tile
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), spec) and out.write_image(pixels), out.geterror()
        out.close()
    good, bad = paths
    assert check_image(good).height == 700
    data = bytearray(bad.read_bytes())
    data[-len(data) // 10:] = rng.integers(0, 256, len(data) // 10, dtype=np.uint8).tobytes()  # the last rows
    bad.write_bytes(bytes(data))
    for check in (check_image, lambda p: read_image(p, keep_half=True, colour=True)):
        with pytest.raises(VideomatteError, match=f"cannot decode pixels of {bad}"):
            check(bad)
    source = open_source(str(tmp_path / name.replace(".", ".####.")), "auto", print)
    source.check([1, 2], False)
    with pytest.raises(VideomatteError, match="unreadable or corrupt frames 2"):
        source.check([1, 2], True)


@pytest.mark.parametrize("fmt, tile", [(oiio.HALF, None), (oiio.HALF, (40, 24)), (oiio.FLOAT, None)])
def test_a_pass_converts_band_by_band_as_the_whole_frame(tmp_path, fmt, tile):
    """A pass decodes and converts a frame a band of rows at a time; over several bands, with a data window that
    starts below the display window's top, runs past its bottom and is cropped at its left, the plate is what a
    whole-frame read gives (zeros outside the data window) and the conversions are the whole frame's."""
    rng = np.random.default_rng(5)
    written = (rng.random((900, 100, 3)) * 1.5).astype(np.float16).astype(np.float32)
    written[3, 27] = np.nan  # inside the display window: counted as in the whole frame
    for frame in (1, 2):
        spec = oiio.ImageSpec(100, 900, 3, fmt)
        spec.x, spec.y = -20, 130
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 96, 1000
        if tile:
            spec.tile_width, spec.tile_height = tile
        path = str(tmp_path / f"p.{frame:04d}.exr")
        out = oiio.ImageOutput.create(path)
        assert out.open(path, spec) and out.write_image(written), out.geterror()
        out.close()
    expected = np.zeros((1000, 96, 3), np.float32)
    expected[130:, :80] = written[:870, 20:]
    raw = read_image(tmp_path / "p.0001.exr", keep_half=True, colour=True)[0]
    assert raw.dtype == (np.float16 if fmt == oiio.HALF else np.float32)
    assert np.array_equal(raw, expected, equal_nan=True)
    source = open_source(str(tmp_path / "p.####.exr"), "auto", print)
    decoded = next(source.iter_decoded([2], linear=True))
    rgb, rgb_u8, bad = source.colour.to_model(raw)
    assert np.array_equal(decoded.rgb, rgb) and np.array_equal(decoded.rgb_u8, rgb_u8) and bad == 3
    assert np.array_equal(decoded.linear, source.colour.to_linear(raw)) and source.nonfinite_values == 3


def test_display_window_mismatch_is_named(tmp_path):
    _layered_shot(tmp_path)
    _write_exr(tmp_path / "render.0002.exr", np.zeros((48, 64, 3)), ("R", "G", "B"), (0, 0, 64, 48),
               display=(0, 0, 64, 40))
    source = open_source(str(tmp_path / "render.####.exr"), "auto", print)
    with pytest.raises(VideomatteError, match=r"differ in size from 64x48 .*\(2: 64x40\)"):
        source.check([1, 2, 3], False)


def test_half_float_plates_load_the_conversion_ahead(tmp_path, shot_png):
    """The preflight loads the compiled half-float conversion on a thread of its own (0.4 s on a process's first
    call), so the first frame does not wait for it; 8-bit plates, which do not use it, load nothing. A fresh
    process: this one may have loaded it already."""
    _layered_shot(tmp_path)
    script = f"""
from videomatte_hq.io.colour import _half_lookup
from videomatte_hq.io.source import open_source
open_source({str(shot_png["input"])!r}, "auto", print).warm_up()
assert not _half_lookup().signatures
open_source({str(tmp_path / "render.####.exr")!r}, "auto", print).warm_up()
assert _half_lookup().signatures
"""
    subprocess.run([sys.executable, "-c", script], check=True, env=ENV, timeout=120)


def test_hdr_video_is_warned(tmp_path):
    """A video tagged PQ with BT.2020 primaries (an HDR grade, a phone's HLG clip) is not the sRGB-like video the
    default reads: the warning says so and how to fix it; an untagged one warns nothing."""
    import av

    path = tmp_path / "hdr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p10le"
        stream.codec_context.color_trc, stream.codec_context.color_primaries = 16, 9
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame.reformat(format="yuv420p10le")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    warnings = []
    open_source(str(path), "auto", warnings.append)
    assert len(warnings) == 1 and "hdr.mp4 is tagged PQ (SMPTE ST 2084) and BT.2020 primaries" in warnings[0]
    assert "--input-colorspace" in warnings[0]
    _write_video(tmp_path / "sdr.mp4", frames=2)
    open_source(str(tmp_path / "sdr.mp4"), "auto", warnings.append)
    assert len(warnings) == 1


def test_outputs_keep_the_plate_format(tmp_path):
    """A 2x anamorphic plate (EXR pixelAspectRatio 2) whose display window starts at (10, 6): the alpha and the
    layered matte EXR carry both, so a compositor reads them in the plate's format; the pixels are matted as they
    are, and a resumed run reads its alphas back. Its anchor may be drawn over the desqueezed picture (128x48, as a
    viewer shows it): resized to the stored 64x48 with a warning (it was refused: "different aspect ratio")."""
    for frame in (1, 2):
        spec = oiio.ImageSpec(64, 48, 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        spec.attribute("PixelAspectRatio", 2.0)
        spec.x, spec.y = spec.full_x, spec.full_y = 10, 6
        path = str(tmp_path / f"ana.{frame:04d}.exr")
        out = oiio.ImageOutput.create(path)
        assert out.open(path, spec) and out.write_image(render_frame(48, 64, frame, 3)[0] ** 2.2), out.geterror()
        out.close()
    roto = (render_frame(48, 64, 1, 3)[1] > 0.5).astype(np.float32)
    write_image(tmp_path / "anchor.png", np.repeat(roto, 2, axis=1), "uint8", ("Y",))
    report = run_api({"input": tmp_path / "ana.####.exr", "anchor": tmp_path / "anchor.png"}, tmp_path / "out",
                     alpha_format="exr16", matte_exr=True)
    assert report.status == "ok" and "anchor mask anchor.png is 128x48, the plate desqueezed (pixel aspect 2); " \
        "resized to the plate's stored 64x48" in report.warnings
    assert np.array_equal(load_anchor(tmp_path / "anchor.png", 64, 48, print, pixel_aspect=2.0), roto)
    with pytest.raises(VideomatteError, match="different aspect ratio"):
        load_anchor(tmp_path / "anchor.png", 64, 48, print)
    for path in (tmp_path / "out" / "alpha" / "000002.exr", tmp_path / "out" / "matte" / "000002.exr"):
        spec = read_pixels(path)[1]
        assert spec.get_float_attribute("PixelAspectRatio") == 2.0, path
        assert (spec.x, spec.y, spec.width, spec.height) == (10, 6, 64, 48), path  # the data window
        assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (10, 6, 64, 48), path
    (tmp_path / "out" / "alpha" / "000002.exr").unlink()
    report = run_api({"input": tmp_path / "ana.####.exr", "anchor": tmp_path / "anchor.png"}, tmp_path / "out",
                     alpha_format="exr16", matte_exr=True, resume=True)
    assert report.frames_written == 1 and report.progress["refine"].resumed == 1
