"""MEMatte checkpoints: official file layout in, a strict state dict out.

Official files are `torch.save`d dicts, either the state dict itself or wrapped as
{"model": ..., "trainer": ..., "iteration": ...}; keys may carry a `module.` prefix,
and training checkpoints add `teacher_backbone.*` (the distillation teacher), which
inference does not use. Everything else must match the model exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...errors import ModelFileError, short_reason
from .model import MEMatte

TEACHER_PREFIX = "teacher_backbone."


@dataclass
class LoadReport:
    dropped: list[str] = field(default_factory=list)  # keys not used at inference
    stripped_module_prefix: bool = False
    wrapped: bool = False


def normalise_state_dict(raw: dict) -> tuple[dict[str, torch.Tensor], LoadReport]:
    report = LoadReport()
    state = raw
    if isinstance(raw.get("model"), dict):
        state, report.wrapped = raw["model"], True
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
        report.stripped_module_prefix = True
    report.dropped = sorted(k for k in state if k.startswith(TEACHER_PREFIX))
    return {k: v for k, v in state.items() if not k.startswith(TEACHER_PREFIX)}, report


def _read(path: Path) -> dict:
    """torch.load memory-mapped (tensors page in from the file, no copy), weights only (no code runs)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:  # the legacy (torch < 1.6) format cannot be memory-mapped
        if "mmap" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def load_mematte(path: Path, max_number_token: int = 18500) -> tuple[MEMatte, LoadReport]:
    """Build MEMatte ViT-S and load `path` strictly (weights_only: no code runs from the file)."""
    try:
        raw = _read(path)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise ModelFileError(f"{path} is not a valid MEMatte checkpoint ({short_reason(exc)})",
                             hint="re-download MEMatte_ViTS_DIM.pth and install it with `videomatte-hq models install`",
                             code="model_file") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"MEMatte checkpoint {path} does not hold a state dict", code="model_file",
                             hint="use the official MEMatte_ViTS_DIM.pth")
    state, report = normalise_state_dict(raw)
    model = MEMatte(max_number_token=max_number_token)
    result = model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                                   strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelFileError(
            f"MEMatte checkpoint {path} does not match ViT-S: {len(result.missing_keys)} missing keys "
            f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]})",
            hint="this backend needs the ViT-S checkpoint MEMatte_ViTS_DIM.pth", code="model_file")
    model.eval()
    return model, report
