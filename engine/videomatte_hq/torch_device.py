"""Device and precision for the torch backends: autocast fp16/bf16 on CUDA, fp32 on CPU."""

from __future__ import annotations

import numpy as np
import torch

from .errors import VideomatteError

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve(device: str, precision: str, warn) -> tuple[torch.device, str]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise VideomatteError(f"invalid --device {device!r}", hint="use auto, cpu, cuda or cuda:N",
                              code="config") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VideomatteError(f"--device {device} requested but CUDA is not available",
                              hint="use --device cpu (or auto)", code="device")
    if precision == "auto":
        precision = "fp16" if dev.type == "cuda" else "fp32"
    if dev.type == "cpu" and precision != "fp32":
        warn(f"--precision {precision} is for CUDA; running fp32 on CPU")
        precision = "fp32"
    if dev.type == "cuda":
        # fp32 means fp32: torch's defaults run cuDNN convolutions in TF32 (MEMatte's golden alpha then differs
        # by 7e-4 on an H100, 1e-6 with TF32 off). Autocast fp16/bf16 is unaffected.
        torch.backends.cudnn.allow_tf32 = precision != "fp32"
        torch.backends.cuda.matmul.allow_tf32 = precision != "fp32"
    return dev, precision


def setup(config, warn) -> tuple[torch.device, str]:
    """Threads and (device, precision) for a torch backend. Threads are set explicitly because
    importing ultralytics before torch pins OMP_NUM_THREADS to 1."""
    use_threads(config.runtime.cpu_threads)
    return resolve(config.runtime.device, config.runtime.precision, warn)


def use_threads(threads: int) -> None:
    """torch's CPU threads for the calling thread. OpenMP keeps the count per thread (one that never set it uses
    every core) and a model runs on another thread than the one that loaded it, so each forward sets it (a
    fraction of a microsecond)."""
    torch.set_num_threads(threads)


def autocast(dev: torch.device, precision: str):
    """Autocast context for the forward pass (a no-op in fp32)."""
    return torch.autocast(dev.type, dtype=DTYPES.get(precision, torch.float32), enabled=precision in DTYPES)


# A copy between the GPU and pageable host memory goes through the driver's small staging buffers (a 4K float
# alpha came down at about 1 GB/s on an H100); from page-locked memory it is one DMA. torch's caching host
# allocator hands the page-locked blocks out again once their copies are done, so a frame's buffers are reused.


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A numpy array on `device`; to CUDA through page-locked memory, without waiting for the copy."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        tensor = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True).copy_(tensor)
    return tensor.to(device, non_blocking=True)


def to_host(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a numpy array; from CUDA into page-locked memory (the array keeps it)."""
    if not tensor.is_cuda:
        return tensor.numpy()
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor)
    return host.numpy()
