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
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise VideomatteError(f"--device {device}: this machine has {count} CUDA device{'s' * (count != 1)}",
                              hint=f"use cuda:0 to cuda:{count - 1} (or auto)", code="device")
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


class CudaGraphed:
    """`fn(x)` for a CUDA tensor `x`, replayed from a CUDA graph captured for x's shape and dtype (again when they
    change). For a fixed-shape model whose thousands of operator calls, each a launch made in Python under the GIL
    that the run's other threads share, then cost one replay. `fn` must not sync with the host. Its outputs
    (tensors, or dicts/lists/tuples of them) are copied out of the graph's memory, which the next replay reuses."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: torch.Tensor | None = None
        self.static_out = None

    def __call__(self, x: torch.Tensor):
        if self.graph is None or (x.shape, x.dtype, x.device) != (self.static_in.shape, self.static_in.dtype,
                                                                   self.static_in.device):
            self._capture(x)
        self.static_in.copy_(x)
        self.graph.replay()
        return _cloned(self.static_out)

    def _capture(self, x: torch.Tensor) -> None:
        self.graph = self.static_out = None  # an earlier shape's graph and its memory go first
        self.static_in = x.clone()
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):  # warm-up outside the capture: cuDNN's choices, lazily loaded kernels
            for _ in range(2):
                self.fn(self.static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the other stages' threads keep launching work on the device while this one captures.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.static_out = self.fn(self.static_in)
        self.graph = graph


def _cloned(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _cloned(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cloned(v) for v in value)
    return value
