"""`videomatte-hq farm finalize OUT`: after the segment step and the refine chunks, check that every frame's
trimap and alpha are there and come from one run (their settings hashes), merge the step reports into
`run_summary.json`, and name each missing or failed chunk with the command that re-runs it."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import VideomatteError, format_frames
from ..fileio import write_json
from ..io.images import read_attribute
from ..layout import HASH_ATTR, OutputLayout
from ..report import read_status
from .bundle import chunks

CHUNK_REPORT = re.compile(r"run_summary\.refine\.(-?\d+)-(-?\d+)\.json$")


def _read(path: Path) -> dict[str, Any] | None:
    found = read_status([path])
    return found[0] if found else None


def rerun_command(root: Path, first: int, last: int) -> str:
    """The refine chunk's command, from the settings the segment step recorded."""
    return shlex.join(["videomatte-hq", "--config", str(root / "config_used.segment.json"), "--stage", "refine",
                       "--frame-start", str(first), "--frame-end", str(last), "--resume"])


def _hashes(paths: dict[int, Path]) -> tuple[list[int], dict[int, str]]:
    """(frames whose file is missing, frame -> settings hash of the present ones)."""
    missing, hashes = [], {}
    for frame, path in paths.items():
        value = read_attribute(path, HASH_ATTR) if path.is_file() else None
        if value is None:
            missing.append(frame)
        else:
            hashes[frame] = value
    return missing, hashes


def _common(hashes: dict[int, str]) -> str | None:
    """The settings hash most frames carry: the run's."""
    return Counter(hashes.values()).most_common(1)[0][0] if hashes else None


def _odd_ones(hashes: dict[int, str]) -> list[int]:
    """Frames whose hash differs from the most common one (files of another run)."""
    common = _common(hashes)
    return sorted(f for f, h in hashes.items() if h != common)


def _chunk_reports(root: Path) -> dict[tuple[int, int], dict[str, Any] | None]:
    """(first, last) -> the refine chunk's report (None where unreadable)."""
    reports = {}
    for path in root.glob("run_summary.refine.*.json"):
        m = CHUNK_REPORT.search(path.name)
        if m:
            reports[(int(m.group(1)), int(m.group(2)))] = _read(path)
    return reports


def _chunk_states(root: Path, planned: list[tuple[int, int]], reports: dict[tuple[int, int], Any],
                  alphas_missing: list[int]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each planned chunk's state for the summary, and a problem (with its rerun command) for each not done."""
    states, problems = [], []
    for a, b in planned:
        report = reports.get((a, b))
        state = report["state"] if report else "never ran"
        lacking = [f for f in alphas_missing if a <= f <= b]
        if state != "ok" or lacking:
            why = state if state != "ok" else f"alpha missing for frames {format_frames(lacking)}"
            problems.append(f"refine chunk {a}-{b}: {why}; rerun it: {rerun_command(root, a, b)}")
        states.append({"frames": [a, b], "state": state,
                       "report": str(root / f"run_summary.refine.{a}-{b}.json") if report else None})
    return states, problems


def finalize(root: Path, first: int | None = None, last: int | None = None,
             chunk_size: int | None = None) -> dict[str, Any]:
    """Write the merged run_summary.json; raise (after writing it as failed) if the shot is incomplete."""
    root = Path(root).resolve()  # the rerun commands it prints work from anywhere
    segment = _read(root / "run_summary.segment.json")
    used = root / "config_used.segment.json"
    if segment is None or not used.is_file():
        raise VideomatteError(f"no segment step report in {root}", code="farm_incomplete",
                              hint="run the job's Segment step first (`--stage segment` over the whole shot)")
    config = Config(**json.loads(used.read_text()))
    layout = OutputLayout.of(config.io.model_copy(update={"output_dir": str(root)}))
    first = segment["requested_frame_start"] if first is None else first
    last = segment["requested_frame_end"] if last is None else last
    start = max(first, segment["frame_start"])  # auto-anchor may have moved the start past a dark opening
    frames = list(range(start, last + 1))

    problems: list[str] = []
    if segment["state"] != "ok":
        problems.append(f"the segment step is {segment['state']}: rerun it ("
                        + shlex.join(["videomatte-hq", "--config", str(used), "--stage", "segment", "--resume"]) + ")")
    trimaps_missing, trimap_hashes = _hashes({f: layout.trimap_path(f) for f in frames})
    alphas_missing, alpha_hashes = _hashes({f: layout.alpha_path(f) for f in frames})
    reports = _chunk_reports(root)
    planned = chunks(first, last, chunk_size) if chunk_size else sorted(reports)
    covered = {f for a, b in planned for f in range(a, b + 1)}
    planned += [(f, f) for f in alphas_missing if f not in covered]  # frames no chunk report covers
    chunk_states, chunk_problems = _chunk_states(root, planned, reports, alphas_missing)
    problems += chunk_problems
    if trimaps_missing:
        problems.append(f"trimaps missing for frames {format_frames(trimaps_missing)}")
    for kind, odd in (("trimaps", _odd_ones(trimap_hashes)), ("alphas", _odd_ones(alpha_hashes))):
        if odd:
            problems.append(f"the {kind} of frames {format_frames(odd)} come from another run (settings hash "
                            "differs): rerun their chunks with --resume")

    steps = [r for r in reports.values() if r]
    merged = {k: v for k, v in segment.items() if k not in ("file", "state")}
    refine_done = len(frames) - len(alphas_missing)
    merged.update(
        stages=["segment", "refine"], frame_start=start, frame_end=last, frame_count=len(frames),
        requested_frame_start=first, requested_frame_end=last,
        progress={"segment": segment["progress"]["segment"],
                  "refine": {"frames": len(frames), "done": refine_done,
                             "resumed": sum(r["progress"]["refine"]["resumed"] for r in steps)}},
        frames_written=refine_done,
        tiles={k: sum(r["tiles"][k] for r in steps) for k in ("refined", "skipped")},
        stage_seconds={"segment": segment["stage_seconds"].get("segment", 0.0),
                       "refine": round(sum(r["stage_seconds"].get("refine", 0.0) for r in steps), 3)},
        warnings=list(dict.fromkeys(segment["warnings"] + [w for r in steps for w in r["warnings"]])),
        config_hash={"segment": _common(trimap_hashes), "refine": _common(alpha_hashes)},
        refine=next((r["refine"] for r in steps if r.get("refine")), None),
        farm={"chunk_size": chunk_size, "chunks": chunk_states}, heartbeat=time.time(), finished=time.time(),
        status="failed" if problems else "ok",
        error={"message": "; ".join(problems), "hint": "rerun the steps named above, then finalize again",
               "code": "farm_incomplete"} if problems else None)
    if steps:
        merged["backends"] = {**segment["backends"], **{k: v for r in steps for k, v in r["backends"].items()}}
    write_json(root / "run_summary.json", merged)
    if problems:
        raise VideomatteError(f"the shot in {root} is incomplete: " + "\n".join(problems), code="farm_incomplete",
                              hint="rerun the steps named above (each command is safe to repeat), then "
                                   "`videomatte-hq farm finalize` again")
    return merged
