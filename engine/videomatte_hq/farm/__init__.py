"""Render farms: the OpenJD job bundle (Deadline Cloud, OpenCue), `farm finalize`, and the Dask executor. All
of them split a shot at the engine's own seam: `--stage segment` once, then `--stage refine` per frame chunk."""
