"""A stand-in for the parts of detectron2 the official MEMatte code imports (README.md beside it)."""
