"""The engine's output layout, asked of the engine itself: it alone spells the file names.

During a run the layout arrives in the `run_start` event (`RunState.layout`); before one, `engine_layout` asks
`videomatte-hq layout --output-dir D --alpha-format F --json`.
"""

from __future__ import annotations

import json
import subprocess

from .events import EngineError
from .job import clean_env


def engine_layout(executable: list[str], output_dir: str, alpha_format: str = "png16",
                  alpha_pattern: str | None = None) -> dict:
    """{"alpha_pattern", "trimap_pattern", "run_summary", ...}: the files a run into `output_dir` writes
    (a run of `#` stands for the source frame number)."""
    argv = [*executable, "layout", "--output-dir", output_dir, "--alpha-format", alpha_format, "--json"]
    if alpha_pattern:
        argv += ["--alpha-pattern", alpha_pattern]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=120)
    except OSError as exc:
        raise EngineError(f"cannot start the engine {executable[0]!r}: {exc.strerror}",
                          "set the engine executable in the add-on/plugin settings", "launch") from exc
    if proc.returncode != 0:
        raise EngineError(f"the engine's layout command failed ({proc.returncode})", proc.stderr.strip(), "layout",
                          proc.returncode)
    return json.loads(proc.stdout)
