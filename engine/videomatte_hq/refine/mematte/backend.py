"""`refine_backend: mematte` — MEMatte ViT-S on batches of trimap tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ... import torch_device
from ...models import MODELS, resolve_model_path
from .model import postprocess
from .weights import load_mematte


def checkpoint_path(config) -> Path:
    return resolve_model_path(MODELS["mematte"], config.refinement.mematte_checkpoint,
                              config.runtime.allow_external_paths, "MEMatte")


class MEMatteBackend:
    name = "mematte"
    display_name = "MEMatte"
    default_tile = 512
    default_overlap = 64

    @staticmethod
    def preflight(config) -> None:
        """Fail before any frame is processed if the checkpoint is missing or not allowed."""
        checkpoint_path(config)

    def __init__(self, config, warn) -> None:
        self.path = checkpoint_path(config)
        self.device, self.precision = torch_device.resolve(config.runtime.device, config.runtime.precision, warn)
        if config.runtime.threads:
            torch.set_num_threads(config.runtime.threads)
        model, report = load_mematte(self.path)
        if report.dropped:
            warn(f"MEMatte checkpoint: dropped {len(report.dropped)} training-only keys (teacher_backbone.*)")
        self.model = model.to(self.device)

    def model_files(self) -> list[Path]:
        return [self.path]

    def refine(self, images: list[np.ndarray], trimaps: list[np.ndarray]) -> list[np.ndarray]:
        image = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).to(self.device)
        trimap = torch.from_numpy(np.stack(trimaps))[:, None].to(self.device)
        with torch.inference_mode(), torch_device.autocast(self.device, self.precision):
            alpha = postprocess(self.model(image, trimap).float(), trimap)
        return list(alpha[:, 0].cpu().numpy())
