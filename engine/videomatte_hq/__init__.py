"""videomatte-hq: two-stage video matting (segment -> trimap -> refine) for VFX plates.

`videomatte_hq.run(config, on_event=..., cancel=...)` is the in-process API (see `api.py`)."""

from .version import __version__

__all__ = ["__version__", "run"]


def __getattr__(name: str):
    if name == "run":  # imported on use: `import videomatte_hq` stays light (no OpenCV, no torch)
        from .api import run

        return run
    raise AttributeError(name)
