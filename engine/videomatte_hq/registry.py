"""Lookup by name of things imported only when chosen (backends, model verifiers): weight-free runs never
import torch, and low layers can name higher ones without importing them.

`register_backend` adds a backend at run time (a plugin, a benchmark's no-op backend)."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import VideomatteError

# stage -> backend name -> "module:Class"
BACKENDS: dict[str, dict[str, str]] = {
    "segment": {
        "sam2": "videomatte_hq.segment.sam2:SAM2Backend",
        "ultralytics_sam3": "videomatte_hq.segment.sam2:SAM3Backend",
        "flow": "videomatte_hq.segment.flow:FlowBackend",
    },
    "refine": {
        "closed_form": "videomatte_hq.refine.closed_form:ClosedFormBackend",
        "mematte": "videomatte_hq.refine.mematte.backend:MEMatteBackend",
    },
}
_REGISTERED: dict[str, dict[str, Any]] = {"segment": {}, "refine": {}}


def resolve(target: str) -> Any:
    """'package.module:Name.attr' -> the object."""
    module, _, attrs = target.partition(":")
    obj: Any = importlib.import_module(module)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


def register_backend(stage: str, name: str, cls: Any) -> None:
    """Make `cls` available as `<stage>_backend: name` (stage 'segment' or 'refine')."""
    _REGISTERED[stage][name] = cls


def backend_names(stage: str) -> list[str]:
    return sorted({*BACKENDS[stage], *_REGISTERED[stage]})


def backend_class(stage: str, name: str):
    if name in _REGISTERED[stage]:
        return _REGISTERED[stage][name]
    if name not in BACKENDS[stage]:
        raise VideomatteError(f"unknown {stage}_backend '{name}'", code="backend",
                              hint=f"available: {', '.join(backend_names(stage))}")
    return resolve(BACKENDS[stage][name])
