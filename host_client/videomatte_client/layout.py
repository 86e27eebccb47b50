"""What hosts ask of the engine itself, which alone spells them: the output layout, and the farm job bundle.

During a run the layout arrives in the `run_start` event (`RunState.layout`); before one, `engine_layout` asks
`videomatte-hq layout --output-dir D --alpha-format F --json`.
"""

from __future__ import annotations

import json
import os
import subprocess

from .command import EngineCommand
from .events import EngineError
from .job import clean_env


def engine_layout(executable: list[str], output_dir: str, alpha_format: str = "png16",
                  alpha_pattern: str | None = None) -> dict:
    """{"alpha_pattern", "trimap_pattern", "run_summary", ...}: the files a run into `output_dir` writes
    (a run of `#` stands for the source frame number)."""
    argv = [*executable, "layout", "--output-dir", output_dir, "--alpha-format", alpha_format, "--json"]
    if alpha_pattern:
        argv += ["--alpha-pattern", alpha_pattern]
    return json.loads(_engine(argv, "layout"))


def farm_bundle(command: EngineCommand, bundle_dir: str, chunk_size: int) -> str:
    """Write the run's OpenJD job bundle (Segment -> Refine chunks -> Finalize) with the engine's
    `farm openjd`; returns the template's path. Submit: `deadline bundle submit <bundle_dir>`."""
    options = command.argv()[len(command.executable):]
    _engine([*command.executable, "farm", "openjd", "--bundle-dir", bundle_dir, "--chunk-size", str(chunk_size),
             *options], "farm")
    return os.path.join(bundle_dir, "template.yaml")


def _engine(argv: list[str], what: str) -> str:
    """Run an engine subcommand; its stdout, or EngineError with the engine's own message and fix."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=300)
    except OSError as exc:
        raise EngineError(f"cannot start the engine {argv[0]!r}: {exc.strerror}",
                          "set the engine executable in the add-on/plugin settings", "launch") from exc
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.strip().splitlines()]
        message = next((line[len("error: "):] for line in lines if line.startswith("error: ")),
                       f"the engine's {what} command failed ({proc.returncode})")
        hint = next((line[len("fix: "):] for line in lines if line.startswith("fix: ")), proc.stderr.strip())
        raise EngineError(message, hint, what, proc.returncode)
    return proc.stdout
