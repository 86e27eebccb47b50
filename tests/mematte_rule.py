"""The golden data's deterministic weight rule (tests/golden/README.md)."""

from __future__ import annotations

import json
import zlib

import torch

from conftest import GOLDEN

MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def rule(key: str, shape: list[int]) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return torch.tensor(0, dtype=torch.int64)
    if key.endswith("running_mean"):
        return torch.zeros(shape, dtype=torch.float64)
    if key.endswith("running_var"):
        return torch.ones(shape, dtype=torch.float64)
    g = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    r = torch.randn(shape, generator=g, dtype=torch.float64)
    if len(shape) >= 2:
        return 0.05 * r
    if key.endswith(".weight"):
        return 1.0 + 0.03 * r
    return 0.03 * r


def rule_state_dict() -> dict[str, torch.Tensor]:
    """Every official inference key, in the official order, float64."""
    return {key: rule(key, shape) for key, shape, _ in MANIFEST["state_dict"]}
