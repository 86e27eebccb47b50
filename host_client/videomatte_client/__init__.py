"""Host-side client of the videomatte-hq engine protocol: command lines, JSON-lines events, output layout,
and a subprocess job with a reader thread. Standard library only (runs in Nuke's and Blender's Python, 3.9+);
it never imports the engine. The Nuke plugin and the Blender add-on both build on it."""

from .command import EngineCommand, engine_argv
from .events import EngineError, RunState
from .frames import hashes_to_printf, parse_frames, printf_to_hashes, sequence_path
from .job import MatteJob, clean_env
from .layout import engine_layout, farm_bundle

__all__ = ["EngineCommand", "EngineError", "MatteJob", "RunState", "clean_env", "engine_argv", "engine_layout",
           "farm_bundle", "hashes_to_printf", "parse_frames", "printf_to_hashes", "sequence_path"]
