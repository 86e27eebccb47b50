"""The real CLI, end to end, on generated PNG and EXR sequences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from conftest import WEIGHT_FREE, events_of, read_pixels, run_api, run_cli


def test_png_sequence_hash_pattern_jsonl(tmp_path, shot_png):
    out = tmp_path / "out"
    proc = run_cli(*WEIGHT_FREE, "--input", shot_png["input"], "--anchor-mask", shot_png["anchor"], "--output-dir", out,
                   "--progress", "jsonl", check=True)
    frames = list(range(1001, 1007))
    assert sorted(p.name for p in (out / "alpha").iterdir()) == [f"{f:06d}.png" for f in frames]
    assert sorted(p.name for p in (out / "qc").iterdir()) == [f"trimap.{f:06d}.png" for f in frames]

    alpha, spec = read_pixels(out / "alpha" / "001003.png")
    assert spec.format == oiio.UINT16 and spec.nchannels == 1 and alpha.shape[:2] == (48, 80)
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    soft = ((alpha > 0.02) & (alpha < 0.98)).sum()
    assert soft > 0, "refinement produced no soft edge"
    trimap, tspec = read_pixels(out / "qc" / "trimap.001003.png")
    assert tspec.format == oiio.UINT8
    assert set(np.unique(np.round(trimap * 255)).astype(int)) <= {0, 128, 255}

    # Alpha follows the ground truth of this generated shot closely.
    gt, _ = read_pixels(Path(shot_png["input"]).parents[1] / "alpha_gt" / "1006.png")
    last, _ = read_pixels(out / "alpha" / "001006.png")
    binary_sad = np.abs((gt >= 0.5) - gt).sum()
    assert np.abs(last - gt).sum() < binary_sad

    events = events_of(proc)
    kinds = [e["event"] for e in events]
    checks, events = events[:kinds.index("run_start")], events[kinds.index("run_start"):]
    assert {e["event"] for e in checks} == {"preflight"} and [checks[0]["checked"], checks[-1]["checked"]] == [0, 6]
    assert kinds[-1] == "run_end"
    assert events[0]["frames"] == 6 and events[0]["frame_start"] == 1001 and events[0]["protocol"] == 2
    run_ids = {e["run_id"] for e in events}
    assert len(run_ids) == 1 and events[0]["layout"]["alpha_pattern"] == str(out / "alpha" / "######.png")
    refine_done = [e["frame"] for e in events if e["event"] == "frame_done" and e["stage"] == "refine"]
    assert refine_done == frames
    assert events[-1]["status"] == "ok" and events[-1]["frames_written"] == 6
    assert [e["stage"] for e in events if e["event"] == "stage_start"] == ["segment", "refine"]
    assert max(e["progress"] for e in events if e["event"] == "frame_done") == 1.0

    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "ok" and summary["frames_written"] == 6 and summary["run_id"] in run_ids
    assert (summary["frame_start"], summary["frame_end"]) == (1001, 1006)
    assert summary["requested_frame_start"] == 1001
    assert summary["anchor"]["frame"] == 1001 and len(summary["anchor"]["files"]["1001"]["sha256"]) == 64
    assert summary["backends"]["segment"]["name"] == "flow"
    assert summary["backends"]["refine"]["name"] == "closed_form"
    assert summary["tiles"]["refined"] >= 6
    assert {"segment", "refine", "total"} <= set(summary["stage_seconds"])
    assert summary["versions"]["OpenImageIO"] and summary["versions"]["videomatte-hq"]
    used = json.loads((out / "config_used.json").read_text())
    assert set(used) == {"io", "segmentation", "refinement", "runtime"}
    assert used["io"]["input"] == shot_png["input"] and used["segmentation"]["trimap_band"] == "default"


def png_chunks(path: Path) -> list[str]:
    """The chunk types of a PNG file, in order."""
    data, pos, kinds = path.read_bytes(), 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kinds.append(data[pos + 4:pos + 8].decode("ascii"))
        pos += 12 + length
    return kinds


def test_matte_pngs_are_untagged_data(tmp_path, shot_png):
    """No sRGB/gAMA/cHRM/iCCP chunk: an application that honours them would linearise the matte."""
    out = tmp_path / "out"
    run_api(shot_png, out, frame_end=1002, alpha_format="png8")
    for path in (out / "alpha" / "001002.png", out / "qc" / "trimap.001002.png"):
        kinds = png_chunks(path)
        assert kinds[0] == "IHDR" and kinds[-1] == "IEND" and "IDAT" in kinds
        assert not {"sRGB", "gAMA", "cHRM", "iCCP"} & set(kinds), (path.name, kinds)
    # ... while the generated example's plate, which is sRGB, says so.
    assert "sRGB" in png_chunks(Path(shot_png["input"].replace("####", "1001")))


def test_exr_sequence_range_percent_pattern_exr_alpha(tmp_path, shot_exr):
    out = tmp_path / "out"
    pattern = shot_exr["input"].replace("####", "%04d")
    run_api({**shot_exr, "input": pattern}, out, anchor_frame=1001, frame_start=1001, frame_end=1005,
            alpha_format="exr16")
    names = sorted(p.name for p in (out / "alpha").iterdir())
    assert names == [f"{f:06d}.exr" for f in range(1001, 1006)]
    alpha, spec = read_pixels(out / "alpha" / "001005.exr")
    assert spec.channelnames == ("A",) and spec.format == oiio.HALF and alpha.shape == (64, 96, 1)
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["input_linear"] is True and summary["frame_count"] == 5


def test_backward_propagation_from_mid_anchor(tmp_path, shot_png):
    """An anchor on the 3rd frame: frames before it are produced by the backward pass."""
    from videomatte_hq.synthetic import render_frame
    from videomatte_hq.io.images import write_image

    _, alpha = render_frame(48, 80, 2, 6)
    anchor = tmp_path / "anchor_1003.png"
    write_image(anchor, (alpha >= 0.5).astype(np.float32), "uint16", ("Y",))
    out = tmp_path / "out"
    events = []
    run_api({**shot_png, "anchor": anchor}, out, on_event=events.append, anchor_frame=1003, alpha_format="exr32")
    seg = [e["frame"] for e in events if e["event"] == "frame_done" and e["stage"] == "segment"]
    assert seg == [1003, 1004, 1005, 1006, 1002, 1001]
    gt, _ = read_pixels(Path(shot_png["input"]).parents[1] / "alpha_gt" / "1001.png")
    first, spec = read_pixels(out / "alpha" / "001001.exr")
    assert spec.format == oiio.FLOAT
    assert np.abs(first - gt).mean() < 0.02


def test_nan_inf_in_exr_plate_clamped_with_warning(tmp_path, shot_exr):
    from videomatte_hq.io.images import write_image

    src = Path(shot_exr["input"]).parent
    plate = tmp_path / "plate"
    plate.mkdir()
    for f in src.iterdir():
        (plate / f.name).write_bytes(f.read_bytes())
    for frame in (1002, 1003, 1004):  # a CG render's bad pixels, frame after frame
        pixels, _ = read_pixels(plate / f"plate.{frame}.exr")
        pixels[10:14, 40:44, :] = np.nan
        pixels[20, 20, 0] = np.inf
        write_image(plate / f"plate.{frame}.exr", pixels, "half", ("R", "G", "B"))
    out = tmp_path / "out"
    events = []
    run_api({**shot_exr, "input": plate / "plate.####.exr"}, out, on_event=events.append, frame_end=1004)
    warnings = [e["message"] for e in events if e["event"] == "warning" and "NaN/inf" in e["message"]]
    # The first frame at once, the others in one line at the end, not a warning per frame.
    assert len(warnings) == 2 and warnings[0].startswith("frame 1002: 49 NaN/inf values")
    assert "frames 1002-1004 (147 values in all)" in warnings[1]
    alpha, _ = read_pixels(out / "alpha" / "001002.png")
    assert np.isfinite(alpha).all()
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["nonfinite_values_clamped"] == 3 * (4 * 4 * 3 + 1) and warnings[1] in summary["warnings"]


def test_grouped_yaml_config_with_cli_override(tmp_path, shot_png):
    cfg = tmp_path / "shot.yaml"
    cfg.write_text(f"io:\n  input: {shot_png['input']}\n  anchor_mask: {shot_png['anchor']}\n  alpha_format: png8\n"
                   "segmentation:\n  trimap_band: wider\nruntime:\n  progress: none\n")
    out = tmp_path / "out"
    run_cli(*WEIGHT_FREE, "--config", cfg, "-o", out, "--trimap-band", "narrow", "--frame-end", 1002, check=True)
    used = json.loads((out / "config_used.json").read_text())
    assert used["segmentation"]["trimap_band"] == "narrow" and used["io"]["alpha_format"] == "png8"
    _, spec = read_pixels(out / "alpha" / "001002.png")
    assert spec.format == oiio.UINT8


def test_farm_split_segment_then_refine_chunks(tmp_path, shot_png):
    common = [*WEIGHT_FREE, "-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "-o", tmp_path / "out",
              "--progress", "none"]
    run_api(shot_png, tmp_path / "out", stage="segment")
    assert not (tmp_path / "out" / "alpha").exists()
    run_api(shot_png, tmp_path / "out", stage="refine", frame_start=1001, frame_end=1003)
    run_api(shot_png, tmp_path / "out", stage="refine", frame_start=1004, frame_end=1006)
    assert len(list((tmp_path / "out" / "alpha").iterdir())) == 6
    reports = sorted(p.name for p in (tmp_path / "out").glob("run_summary*.json"))
    assert reports == ["run_summary.refine.1001-1003.json", "run_summary.refine.1004-1006.json",
                       "run_summary.segment.json"], "parallel farm steps never share a report file"
    chunk = json.loads((tmp_path / "out" / "run_summary.refine.1004-1006.json").read_text())
    assert chunk["stages"] == ["refine"] and chunk["frames_written"] == 3
    # A refine chunk needs stage 1's trimaps.
    (tmp_path / "out" / "qc" / "trimap.001005.png").unlink()
    proc = run_cli(*common, "--stage", "refine", "--overwrite")
    assert proc.returncode == 2 and "trimaps for frames 1005 are missing" in proc.stderr
    assert "--stage segment" in proc.stderr


def test_final_line_names_the_output_as_typed(tmp_path, shot_png):
    proc = run_cli(*WEIGHT_FREE, "-i", shot_png["input"], "--anchor-mask", shot_png["anchor"], "-o", "out",
                   "--frame-end", 1002, "--progress", "none", cwd=tmp_path, check=True)
    assert proc.stderr.strip().splitlines()[-1] == "alpha written to out/alpha"


def test_help_groups_options():
    proc = run_cli("--help", check=True)
    for panel in ("Input / output", "Anchor", "Segmentation & trimap", "Refinement", "Runtime"):
        assert panel in proc.stdout
    assert "validate-config" in proc.stdout


def test_make_example_writes_the_quick_start_shot(tmp_path):
    """The README's first command: the shot it prints exists, frame for frame; a size, count or format it cannot
    write is refused before anything is (a zero width ended in an OpenEXR error after the folder was made)."""
    proc = run_cli("make-example", tmp_path / "ex", "--width", 48, "--height", 32, "--frames", 3, "--format", "png",
                   check=True)
    assert proc.stdout.splitlines() == [f"plate:  {tmp_path / 'ex' / 'plate' / 'plate.####.png'}",
                                        f"anchor: {tmp_path / 'ex' / 'anchor.png'}"]
    plate = sorted(p.name for p in (tmp_path / "ex" / "plate").iterdir())
    assert plate == [f"plate.{f}.png" for f in (1001, 1002, 1003)]
    for bad in (("--width", 0), ("--frames", 0), ("--format", "jpg")):
        proc = run_cli("make-example", tmp_path / "bad", *bad)
        assert proc.returncode == 2 and bad[0] in proc.stderr and not (tmp_path / "bad").exists()
