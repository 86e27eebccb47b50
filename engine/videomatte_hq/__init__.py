"""videomatte-hq: two-stage video matting (segment -> trimap -> refine) for VFX plates."""

__version__ = "0.1.0"
