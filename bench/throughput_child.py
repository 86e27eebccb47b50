"""One measured run for bench/throughput.py, in its own process (peak RSS is the process's): runs the engine
found on PYTHONPATH (this checkout's or a baseline worktree's) on a shot, prints the report as JSON. On CUDA it
also reports the GPU's busy fraction over the stages (NVML's utilisation: the share of time a kernel ran),
sampled every 50 ms from the first stage_start after the preflight to the last stage_end. With the engine's
events it also times the alphas: to the first one on disk, and per frame after it."""

from __future__ import annotations

import json
import resource
import sys
import threading
import time


class BusySampler:
    """NVML utilisation samples of GPU 0 while `window` is set; None where NVML is missing (no GPU)."""

    def __init__(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # no NVML library or no GPU: nothing to report
            self.read = None
            return
        self.read = lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
        self.samples: list[int] = []
        self.window, self.stop = threading.Event(), threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self.stop.wait(0.05):
            if self.window.is_set():
                self.samples.append(self.read())

    def on_event(self, event: dict) -> None:
        if event["event"] == "stage_start" and event["stage"] != "preflight":
            self.window.set()
        elif event["event"] == "stage_end" and event["stage"] in ("segment", "refine"):
            self.window.clear()

    def fraction(self) -> float | None:
        if self.read is None or not self.samples:
            return None
        self.stop.set()
        return round(sum(self.samples) / (100 * len(self.samples)), 3)


class AlphaClock:
    """When each new alpha reached the disk (its refine `frame_done`): the fixed cost is the time to the first (the
    preflight, the model loads, the tracker's conditioning frame), the steady rate the time per frame after it."""

    def __init__(self, busy: BusySampler | None) -> None:
        self.busy, self.times = busy, []

    def on_event(self, event: dict) -> None:
        if self.busy is not None and self.busy.read is not None:
            self.busy.on_event(event)
        if event["event"] == "frame_done" and event["stage"] == "refine" and not event.get("resumed"):
            self.times.append(time.perf_counter())


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
    busy = BusySampler() if settings.get("device") == "cuda" else None
    clock = AlphaClock(busy)
    started = time.perf_counter()
    try:
        from videomatte_hq import run

        report = run(config, clock.on_event).to_dict()
    except ImportError:
        from videomatte_hq.events import Events
        from videomatte_hq.pipeline import run as old_run

        report = old_run(config, Events("none"))
    report["wall_seconds"] = time.perf_counter() - started
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
    report["gpu_busy"] = busy.fraction() if busy else None
    times = clock.times
    report["first_alpha_s"] = round(times[0] - started, 3) if times else None
    report["steady_s_per_frame"] = round((times[-1] - times[0]) / (len(times) - 1), 3) if len(times) > 1 else None
    keys = ("stage_seconds", "frame_count", "wall_seconds", "tiles", "peak_rss_mib", "gpu_busy", "first_alpha_s",
            "steady_s_per_frame")
    print(json.dumps({k: report[k] for k in keys}))


if __name__ == "__main__":
    main()
