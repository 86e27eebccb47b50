"""Bad input: one clear error line (with a fix), exit code != 0, nothing written over existing outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import WEIGHT_FREE, events_of, run_api, run_cli
from videomatte_hq.io.images import write_image


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} \
        if folder.exists() else {}


@pytest.fixture
def done_output(tmp_path, shot_copy) -> Path:
    """An output folder holding a finished run that a failing run must not touch."""
    out = tmp_path / "out"
    run_cli(*WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"], "-o", out, "--progress", "none",
            check=True)
    return out


def _fails(out: Path, *args, expect: str, code: int = 2) -> str:
    before = _snapshot(out)
    proc = run_cli(*args, "-o", out, "--overwrite", "--progress", "jsonl")
    assert proc.returncode == code, proc.stderr
    errors = [e for e in events_of(proc) if e["event"] == "error"]
    assert len(errors) == 1 and expect in errors[0]["message"], errors
    assert errors[0]["hint"], "every error says how to fix it"
    ours = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(ours) == 1 and expect in ours[0]
    assert _snapshot(out) == before, "a failed run changed existing outputs"
    return errors[0]["message"]


def test_missing_frame(done_output, shot_copy):
    (shot_copy["dir"] / "plate.1003.png").unlink()
    (shot_copy["dir"] / "plate.1004.png").unlink()
    msg = _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"],
                 expect="missing frames 1003-1004")
    assert "plate.####.png" in msg


def test_plate_error_comes_first_when_the_model_file_is_bad_too(tmp_path, shot_copy):
    """The plate check and the model files' check run side by side; a run with both wrong reports the plate (as
    when they ran in turn), and waits for the plate check instead of leaving it decoding."""
    from videomatte_hq.errors import VideomatteError

    (shot_copy["dir"] / "plate.1003.png").write_bytes(b"not a png")
    missing = tmp_path / "nowhere" / "MEMatte_ViTS_DIM.pth"
    with pytest.raises(VideomatteError, match="unreadable or corrupt frames 1003"):
        run_api(shot_copy, tmp_path / "out", refine_backend="mematte", mematte_checkpoint=str(missing),
                allow_external_paths=True)
    (shot_copy["dir"] / "plate.1003.png").write_bytes((shot_copy["dir"] / "plate.1002.png").read_bytes())
    with pytest.raises(VideomatteError, match="MEMatte checkpoint not found"):
        run_api(shot_copy, tmp_path / "out", refine_backend="mematte", mematte_checkpoint=str(missing),
                allow_external_paths=True)
    assert not (tmp_path / "out").exists()


def test_size_mismatch(done_output, shot_copy):
    write_image(shot_copy["dir"] / "plate.1005.png", np.zeros((40, 80, 3), np.float32), "uint8", ("R", "G", "B"))
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"],
           expect="frames differ in size from 80x48")


def test_corrupt_png(done_output, shot_copy):
    path = shot_copy["dir"] / "plate.1002.png"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated mid-data
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"],
           expect="unreadable or corrupt frames 1002")


def test_empty_range(done_output, shot_copy):
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"], "--frame-start", 1005,
           "--frame-end", 1003, expect="empty frame range")


def test_range_outside_files(done_output, shot_copy):
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"], "--frame-end", 1009,
           expect="missing frames 1007-1009")


def test_anchor_wrong_aspect(done_output, shot_copy, tmp_path):
    anchor = tmp_path / "square.png"
    write_image(anchor, np.pad(np.ones((20, 20), np.float32), 22), "uint8", ("Y",))
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", anchor, expect="different aspect ratio")


def test_anchor_colour_image(done_output, shot_copy):
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["dir"] / "plate.1001.png",
           expect="is a colour image")


def test_anchor_forms_a_paint_program_writes(tmp_path):
    """The roto where it is: the alpha of a Nuke roto (black RGB); the grey of a PNG exported with an opaque alpha
    (it read as covering the whole frame) and of a JPEG (its rounding made it a colour image); a colour image
    with an opaque alpha is still refused, saying so."""
    from videomatte_hq.anchor import load_anchor
    from videomatte_hq.errors import VideomatteError

    roto = np.zeros((48, 80), np.float32)
    roto[10:40, 20:50] = 1.0
    opaque, black = np.ones_like(roto), np.zeros_like(roto)
    cases = {"nuke.png": (np.dstack([black, black, black, roto]), ("R", "G", "B", "A")),
             "opaque.png": (np.dstack([roto, roto, roto, opaque]), ("R", "G", "B", "A")),
             "grey_alpha.png": (np.dstack([roto, opaque]), ("Y", "A")),
             "roto.jpg": (np.dstack([roto, roto, roto]), ("R", "G", "B"))}
    for name, (pixels, channels) in cases.items():
        write_image(tmp_path / name, pixels, "uint8", channels)
        assert np.abs(load_anchor(tmp_path / name, 80, 48, print) - roto).max() < 0.05, name
    colour = np.dstack([roto, black, black, opaque])
    write_image(tmp_path / "red.png", colour, "uint8", ("R", "G", "B", "A"))
    with pytest.raises(VideomatteError, match=r"is a colour image \(4 channels, its alpha constant\)"):
        load_anchor(tmp_path / "red.png", 80, 48, print)


def test_anchor_given_as_a_sequence_pattern(tmp_path):
    """A roto sequence's pattern (a Nuke Write's roto.####.png) is named as such, with the frame to give and the
    extra anchor another frame would be; a pattern with no file behind it is not found, saying it takes one."""
    from videomatte_hq.anchor import load_anchor
    from videomatte_hq.errors import VideomatteError

    folder = tmp_path / "roto dir"
    for frame in (1001, 1005):
        write_image(folder / f"roto.{frame}.png", np.ones((48, 80), np.float32), "uint8", ("Y",))
    with pytest.raises(VideomatteError, match=r"roto\.####\.png is a sequence pattern \(2 frames on disk\)") as err:
        load_anchor(folder / "roto.####.png", 80, 48, print)
    assert err.value.hint == (f"give the roto of one frame: --anchor-mask '{folder}/roto.1001.png' --anchor-frame "
                              f"1001; another frame's re-anchors there: --extra-anchor '1005={folder}/roto.1005.png'")
    with pytest.raises(VideomatteError, match="anchor mask not found") as err:
        load_anchor(tmp_path / "elsewhere" / "roto.%04d.png", 80, 48, print)
    assert err.value.hint == "check --anchor-mask; it takes one image, not a sequence pattern"


def test_extra_anchor_errors_name_the_extra_anchor(tmp_path, shot_png, done_output):
    """An extra anchor outside the range or not on disk is named as given (they read as the main anchor's errors:
    "set --anchor-frame", "check --anchor-mask"); one on the anchor's frame, or a frame given twice, is refused
    (the last one silently replaced the other)."""
    from videomatte_hq.errors import VideomatteError

    for extra, message, hint in (({1030: shot_png["anchor"]}, f"--extra-anchor 1030={shot_png['anchor']}: frame 1030 "
                                   "is outside the frame range 1001-1006", "leave that extra anchor out"),
                                 ({1004: str(tmp_path / "gone.png")}, "anchor mask not found",
                                  "check --extra-anchor 1004=PATH"),
                                 ({1001: str(tmp_path / "b.png")}, f"two anchors for frame 1001: --anchor-mask "
                                  f"{shot_png['anchor']} and --extra-anchor 1001={tmp_path / 'b.png'}",
                                  "give one anchor per frame")):
        with pytest.raises(VideomatteError) as error:
            run_api(shot_png, tmp_path / "fresh", extra_anchors=extra)
        assert error.value.message.startswith(message) and hint in error.value.hint
        assert not (tmp_path / "fresh").exists()
    _fails(done_output, *WEIGHT_FREE, "-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "--extra-anchor",
           "1004=a.png", "--extra-anchor", "1004=b.png", expect="--extra-anchor gives frame 1004 twice: a.png and "
           "b.png")


def test_outputs_never_replace_the_inputs(tmp_path, shot_copy):
    """An --alpha-pattern spelling the plate's own names in its folder, and an anchor kept among the alphas, would
    be written over (with --overwrite, and by --resume alike): refused before anything is written; so is an output
    folder that is a file. An output name that is a symlink to a plate frame is replaced itself (writes rename over
    the name): allowed, the plate kept."""
    from videomatte_hq.errors import VideomatteError

    plate = {p.name: p.read_bytes() for p in shot_copy["dir"].iterdir()}
    with pytest.raises(VideomatteError, match=r"plate\.1001\.png, a frame of --input, is also an output of this run") \
            as error:
        run_api(shot_copy, shot_copy["dir"], alpha_pattern="plate.####.png", overwrite=True)
    assert "another --output-dir" in error.value.hint
    assert {p.name: p.read_bytes() for p in shot_copy["dir"].iterdir()} == plate
    out = tmp_path / "out"
    run_api(shot_copy, out, frame_end=1002)
    anchor = out / "alpha" / "001001.png"
    for settings in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(VideomatteError, match="an anchor mask, is also an output") as error:
            run_api({**shot_copy, "anchor": anchor}, out, **settings)
        assert error.value.hint.startswith("copy the anchor out of the output folder")
    (tmp_path / "notes.txt").write_text("")
    for given in ("notes.txt", "notes.txt/matte"):
        with pytest.raises(VideomatteError, match=f"--output-dir {tmp_path / given} cannot be a folder: "
                                                  f"{tmp_path / 'notes.txt'} is a file"):
            run_api(shot_copy, tmp_path / given)
    linked = tmp_path / "linked"
    (linked / "alpha").mkdir(parents=True)
    (linked / "alpha" / "001001.png").symlink_to(shot_copy["dir"] / "plate.1001.png")
    run_api(shot_copy, linked, frame_end=1001, overwrite=True)
    assert not (linked / "alpha" / "001001.png").is_symlink()
    assert {p.name: p.read_bytes() for p in shot_copy["dir"].iterdir()} == plate


def test_anchor_empty(done_output, shot_copy, tmp_path):
    anchor = tmp_path / "black.png"
    write_image(anchor, np.zeros((48, 80), np.float32), "uint8", ("Y",))
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", anchor, expect="is empty")


def test_sequence_without_anchor(done_output, shot_copy):
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], expect="anchor_mask is required for v2 pipeline runs")


def test_unquoted_wildcard_names_the_sequence(tmp_path, shot_copy):
    """`-i plate.*.png` unquoted reaches the command as every file: named as such, with the pattern to give."""
    files = sorted(shot_copy["dir"].glob("plate.*.png"))
    proc = run_cli("-i", *files, "--anchor-mask", shot_copy["anchor"], "-o", tmp_path / "out")
    assert proc.returncode == 2 and "No such command" not in proc.stderr
    assert f"--input takes one video file or sequence, not {len(files)} files" in proc.stderr
    assert f"--input '{shot_copy['input']}' (frames 1001-1006 on disk" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_nuke_range_unquoted_is_one_input(tmp_path, shot_copy):
    """`-i plate.####.png 1002-1009` as Nuke's file browser shows it, unquoted: read as the sequence's range
    (its missing frames named), not as a command named 1002-1009."""
    proc = run_cli("-i", shot_copy["input"], "1002-1009", "--anchor-mask", shot_copy["anchor"], "-o", tmp_path / "o")
    assert proc.returncode == 2 and "No such command" not in proc.stderr
    assert "frames 1007-1009 are missing (the input has frames 1001-1006)" in proc.stderr


def test_unknown_config_key_names_closest(done_output, shot_copy, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("segmentation:\n  trimap_fg_treshold: 0.9\n")
    msg = _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--config", cfg, expect="unknown config key")
    assert "trimap_fg_treshold" in msg
    proc = run_cli("validate-config", cfg)
    assert proc.returncode == 2 and "did you mean 'trimap_fg_threshold'?" in proc.stderr


def test_no_refine_is_refused(done_output, shot_copy):
    _fails(done_output, *WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"], "--no-refine",
           expect="MEMatte refinement is mandatory for this tool")


def test_refine_disabled_in_config(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"refinement": {"refine_enabled": false}}')
    proc = run_cli("validate-config", cfg)
    assert proc.returncode == 2 and "MEMatte refinement is mandatory for this tool" in proc.stderr


def test_existing_outputs_need_resume_or_overwrite(done_output, shot_copy):
    before = _snapshot(done_output)
    proc = run_cli(*WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"], "-o", done_output,
                   "--progress", "none")
    assert proc.returncode == 2 and "already holds 6 trimap and 6 alpha frames" in proc.stderr and "--resume" in proc.stderr
    assert _snapshot(done_output) == before


def test_bad_enum_value(tmp_path, shot_copy):
    proc = run_cli(*WEIGHT_FREE, "-i", shot_copy["input"], "--anchor-mask", shot_copy["anchor"], "-o", tmp_path / "o",
                   "--alpha-format", "tiff")
    assert proc.returncode == 2 and "alpha_format" in proc.stderr and "png16" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_device_with_weight_free_backends_is_warned(tmp_path, shot_copy):
    """A GPU asked for where no stage has a model to put on it: the run goes on (on any machine, CUDA or not) and
    says that the option did nothing."""
    report = run_api(shot_copy, tmp_path / "out", device="cuda", precision="fp16", frame_end=1002)
    assert report.status == "ok"
    assert "--device cuda and --precision fp16: no effect, flow and closed_form use no model and run on the CPU" \
        in report.warnings, report.warnings
    assert not any("--device" in w for w in run_api(shot_copy, tmp_path / "cpu", device="cpu",
                                                     frame_end=1002).warnings)


@pytest.mark.parametrize("pattern, fmt, expect", [
    ("shotA_matte.####.exr", None, "exr16"),  # the extension names the format where --alpha-format is not given
    ("matte/sh010.%04d.png", None, "png16"),
    ("shotA_matte.####.exr", "exr32", "exr32"),
    ("shotA_matte.####.exr", "png16", "does not end in .png, the extension of alpha_format png16"),
    ("shotA_matte.exr", None, "has no frame-number field"),
    ("../shotA_matte.####.exr", None, "leaves the output folder"),
])
def test_alpha_pattern_and_format(tmp_path, pattern, fmt, expect):
    from videomatte_hq.config import build_config
    from videomatte_hq.errors import VideomatteError
    from videomatte_hq.layout import alpha_sequence

    io = build_config(None, {"alpha_pattern": pattern, "alpha_format": fmt}).io
    try:
        sequence = alpha_sequence(tmp_path, io.alpha_format, io.alpha_pattern)
    except VideomatteError as error:
        assert expect in error.message and error.code == "config"
    else:
        assert io.alpha_format == expect and sequence.suffix == "." + expect[:3]
