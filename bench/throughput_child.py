"""One measured run for bench/throughput.py, in its own process (peak RSS is the process's): runs the engine
found on PYTHONPATH (this checkout's or a baseline worktree's) on a shot, prints the report as JSON."""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    settings = json.loads(sys.argv[1])
    import noop_backends
    from videomatte_hq.config import build_config

    try:  # the public way (this revision on)
        from videomatte_hq.registry import register_backend

        register_backend("segment", "noop", noop_backends.NoopSegment)
        register_backend("refine", "noop", noop_backends.NoopRefine)
    except ImportError:  # older revisions: their lookup tables
        from videomatte_hq import refine, segment

        segment.BACKENDS["noop"] = "noop_backends:NoopSegment"
        refine.BACKENDS["noop"] = "noop_backends:NoopRefine"
    config = build_config(None, settings)
    started = time.perf_counter()
    try:
        from videomatte_hq import run

        report = run(config).to_dict()
    except ImportError:
        from videomatte_hq.events import Events
        from videomatte_hq.pipeline import run as old_run

        report = old_run(config, Events("none"))
    report["wall_seconds"] = time.perf_counter() - started
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
    keys = ("stage_seconds", "frame_count", "wall_seconds", "tiles", "peak_rss_mib")
    print(json.dumps({k: report[k] for k in keys}))


if __name__ == "__main__":
    main()
