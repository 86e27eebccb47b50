"""`refine_backend: mematte` — MEMatte ViT-S on batches of trimap tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ... import torch_device
from ...errors import ModelFileError
from ...models import MODELS, ModelFile, check_policy, resolve_model_path
from ..device_tiles import DeviceCanvas
from ..tiling import HostCanvas
from .model import postprocess
from .weights import load_mematte


# Peak CUDA memory of one padded full-frame forward per plate pixel, measured at 4K on an H100 with the fused
# attention (fp16 6.8 GiB, fp32 6.7: the activations of the attention no longer dominate), with most tokens routed to
# global attention (the worst case); bf16 taken as fp16.
FULL_FRAME_BYTES_PER_PIXEL = 900
FULL_FRAME_MAX_PIXELS = 4096 * 2304
# Tiles per forward on CUDA, the largest that fits: a 4K frame's 28 tiles of 480 px took 0.126-0.135 s a frame in
# batches of 8, 0.079-0.093 s in 16, 0.071-0.074 s in 32 on an H100 (fp16; fp32 0.19, 0.17, 0.16 s), peaking at
# 2.3, 4.3 and 7.4 GiB in either precision with the frame on the device: about 1100 bytes per tile pixel.
CUDA_BATCHES = (32, 16, 8, 4)
TILE_BYTES_PER_PIXEL = 1100
# A full frame's decoder patches per call on CUDA (measured with 16: a 4K frame's 40 patches in 9 calls).
CUDA_DECODER_BATCH = 16


def cuda_batch(free_bytes: int, tile: int) -> int:
    """The default tiles per forward on a CUDA device with `free_bytes` free: the largest batch whose activations
    take at most half of it (the rest: the other model, the frames in flight), at least 4."""
    per_tile = tile * tile * TILE_BYTES_PER_PIXEL
    return next((b for b in CUDA_BATCHES if b * per_tile <= free_bytes // 2), CUDA_BATCHES[-1])


def checkpoint_path(config) -> Path:
    """`mematte_checkpoint`, else `<mematte_repo_dir>/checkpoints/MEMatte_ViTS_DIM.pth` (the official
    repository layout), else the third_party/ default. Our model code never imports from the repo."""
    ref, allow = config.refinement, config.runtime.allow_external_paths
    model = MODELS["mematte"]
    default = None
    if ref.mematte_repo_dir:
        repo = check_policy(Path(ref.mematte_repo_dir), model, allow, "MEMatte")
        if not repo.is_dir():
            raise ModelFileError(f"MEMatte repo dir not found: {repo}", code="model_missing",
                                 hint="point --mematte-repo-dir at a clone of github.com/linyiheng123/MEMatte, "
                                      "or leave it unset")
        default = repo / "checkpoints" / model.path.name
    return resolve_model_path(model, ref.mematte_checkpoint, allow, "MEMatte", default)


class MEMatteBackend:
    name = "mematte"
    display_name = "MEMatte"
    # 480 px (a multiple of 32, so the official pad-to-32 leaves it as it is) fits one 512 px decoder canvas;
    # chosen by bench/mematte_tiling.py, see docs/benchmarks.md.
    default_tile = 480
    default_overlap = 64

    @staticmethod
    def model_files(config) -> list[Path]:
        """The checkpoint; raises before any frame is processed if it is missing or not allowed."""
        return [checkpoint_path(config)]

    @staticmethod
    def verify_file(model: ModelFile, path: Path) -> None:  # noqa: ARG004 - the verifier signature
        """`models verify`/`install`: a strict load."""
        load_mematte(path)

    def __init__(self, config, warn) -> None:
        self.path = checkpoint_path(config)
        self.device, self.precision = torch_device.setup(config, warn)
        self.threads = config.runtime.cpu_threads
        model, report = load_mematte(self.path)
        if report.dropped:
            warn(f"MEMatte checkpoint: dropped {len(report.dropped)} training-only keys (teacher_backbone.*)")
        self.model = model.to(self.device)
        cuda = self.device.type == "cuda"
        # Tiles per forward: on the CPU batches buy nothing but memory (docs/benchmarks.md).
        tile = config.refinement.tile_size or self.default_tile
        self.default_batch = cuda_batch(torch.cuda.mem_get_info(self.device)[0], tile) if cuda else 4
        # A full frame's decoder patches in groups: on a GPU it saves launches made under the GIL; on the CPU it
        # would only cost memory.
        self.model.DECODER_BATCH = CUDA_DECODER_BATCH if cuda else 1

    def full_frame_fits(self, height: int, width: int) -> bool:
        """refine_mode auto: the padded full frame on CUDA where its activations fit in 80 % of the free memory
        and the frame is at most about 4K (8K not measured). It is the official computation, and on an H100 at 4K
        it takes 0.11 s, against 0.07 s for a 7 % band's 28 tiles and about twice that for an all-unknown trimap's
        58; a SAM2 run is bound by the tracker either way (its steady rate: 0.26 s a frame full, 0.49 tiled with
        all-unknown trimaps). On the CPU tiles are faster (docs/benchmarks.md)."""
        if self.device.type != "cuda" or height * width > FULL_FRAME_MAX_PIXELS:
            return False
        free, _ = torch.cuda.mem_get_info(self.device)
        return height * width * FULL_FRAME_BYTES_PER_PIXEL <= 0.8 * free

    def forward_tiles(self, images: torch.Tensor, trimaps: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) RGB and (B, 1, h, w) {0, 0.5, 1} tiles on the device -> (B, 1, h, w) float32 alpha."""
        torch_device.use_threads(self.threads)
        with torch.inference_mode(), torch_device.autocast(self.device, self.precision):
            return postprocess(self.model(images, trimaps).float(), trimaps)

    def refine(self, images: list[np.ndarray], trimaps: list[np.ndarray]) -> list[np.ndarray]:
        image = torch_device.to_device(np.stack(images), self.device).permute(0, 3, 1, 2)
        trimap = torch_device.to_device(np.stack(trimaps), self.device)[:, None]
        return list(torch_device.to_host(self.forward_tiles(image, trimap)[:, 0]))

    def tile_canvas(self, image: np.ndarray, trimap: np.ndarray, overlap: int) -> DeviceCanvas | HostCanvas:
        """The tiler's canvas: on CUDA the frame stays on the GPU (refine/device_tiles.py: one upload and one
        download a frame instead of one each per batch, no host blending); on the CPU the numpy one, which is
        no slower there (there is no transfer to save)."""
        if self.device.type == "cuda":
            return DeviceCanvas(self.forward_tiles, self.device, image, trimap, overlap)
        return HostCanvas(self, image, trimap, overlap)
