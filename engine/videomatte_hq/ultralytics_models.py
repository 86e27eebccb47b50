"""The one place that touches ultralytics (tested with 8.4.x, pinned in pyproject): offline set-up, model
loading under the canonical file names, one-image predict, and SAM2 video propagation over our frames.

The stock `SAM2VideoPredictor` only reads video files, so frames from our reader are fed
to it one at a time: we set the attributes its `inference()` reads (`dataset.frame`,
`batch`), keep its inference state ourselves, and take the mask *logits* from its
per-frame output before its postprocess thresholds them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import types
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelFileError, short_reason
from .models import PROJECT_ROOT

# Frames per propagation pass; the predictor only uses it as an upper bound.
MAX_FRAMES = 1 << 30
# ultralytics' settings.json goes here instead of the user's home.
CONFIG_DIR = PROJECT_ROOT / ".cache" / "ultralytics"


def configure_offline() -> None:
    """Must run before ultralytics is imported: no update checks, downloads, telemetry or pip installs."""
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_CONFIG_DIR"] = str(CONFIG_DIR)
    os.environ.setdefault("YOLO_VERBOSE", "0")


@contextlib.contextmanager
def skip_weight_init():
    """Build modules without initialising their weights: the checkpoint then overwrites every one (SAM2's load is
    strict: a weight missing from the file is an error, never left uninitialised). ultralytics builds SAM2 with
    torch's random init first, which costs more than loading the file (2.7 s for sam2_l on an H100 host). The
    same device as transformers' `no_init_weights`: torch.nn.init's in-place initialisers become no-ops."""
    import torch

    names = [n for n in vars(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for name in names:
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


@contextlib.contextmanager
def mapped_checkpoints():
    """ultralytics reads a SAM checkpoint whole into memory (`torch.load` of an open file), then copies each tensor
    into the model: memory-mapped, the tensors are copied once, straight from the file's pages. A file in torch's
    legacy (pre-zip) format cannot be mapped and is read as before."""
    from ultralytics.models.sam import build

    read = build.torch_load

    def mapped(file, **kwargs):
        try:
            return read(file.name, mmap=True, **kwargs)
        except RuntimeError:  # not a zip-format checkpoint
            file.seek(0)
            return read(file, **kwargs)

    build.torch_load = mapped
    try:
        yield
    finally:
        build.torch_load = read


def load_model(path: Path, file_name: str):
    """Load `path` the way ultralytics will at run time (SAM2: strict) under its canonical `file_name`,
    which is what selects the architecture."""
    configure_offline()
    from ultralytics import SAM, YOLO

    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / file_name
        link.symlink_to(Path(path).resolve())
        try:
            with skip_weight_init(), mapped_checkpoints():
                return (SAM if file_name.startswith("sam") else YOLO)(str(link))
        except Exception as exc:  # torch/ultralytics raise many kinds for a bad file
            raise ModelFileError(f"{path} is not a valid {file_name} checkpoint ({short_reason(exc)})",
                                 code="model_file", hint=f"re-download {file_name} from the ultralytics assets "
                                 "releases and install it with `videomatte-hq models install`") from None


def predict(model, image_bgr: np.ndarray, threads: int, **kwargs):
    """`model.predict` on one image; restores the thread count its select_device() changes (cpu_count - 1)."""
    import torch

    result = model.predict(image_bgr, verbose=False, **kwargs)[0]
    torch.set_num_threads(threads)
    return result


class VideoModel:
    """A video predictor's model, loaded once (built without random init, on `device` in its precision); every
    propagation pass of a run tracks with it through a predictor of its own (`predictor()`). Its image encoder,
    with `cuda_graph` on a CUDA device, replayed from a CUDA graph (its input has one shape a run:
    the letterboxed imgsz square). On an H100, a 4K tracker step took 0.086 s eager and 0.039 s graphed, the same
    probabilities (docs/benchmarks.md)."""

    def __init__(self, predictor_cls, model_path: Path, imgsz: int, device: str, fp16: bool, threads: int,
                 cuda_graph: bool = False) -> None:
        self.predictor_cls, self.threads = predictor_cls, threads
        self.overrides = dict(model=str(model_path), imgsz=imgsz, device=device, conf=0.0, save=False,
                              verbose=False, quantize=16 if fp16 else 32)
        self.model = None  # until the first predictor has built and loaded it
        self.model = self.predictor().model
        from .torch_device import CudaGraphed  # torch: imported where a model is built, not with this module

        self.graphed = CudaGraphed(self.model.forward_image) if cuda_graph and device.startswith("cuda") else None

    def encode(self, im):
        """The image encoder's features of a preprocessed frame."""
        return self.graphed(im) if self.graphed else self.model.forward_image(im)

    def predictor(self):
        """A fresh predictor (its own inference state) over the model, which the first call builds and loads."""
        import torch

        predictor = self.predictor_cls(overrides=self.overrides)
        with skip_weight_init(), mapped_checkpoints():
            predictor.setup_model(model=self.model, verbose=False)  # given the model: moved, cast (no-ops)
        torch.set_num_threads(self.threads)  # setup_model's select_device sets cpu_count - 1 (1 on a 2-core box)
        return predictor


class VideoSession:
    """One propagation pass of a SAM2 video predictor over in-memory frames, one object."""

    def __init__(self, video: VideoModel, stretched: bool) -> None:
        import torch

        self.torch = torch
        self.video = video
        self.predictor = video.predictor()
        self.stretched = stretched
        self.index = -1
        self.started = False

    def _frame(self, image: np.ndarray):
        p = self.predictor
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # OpenCV's order; 4 ms at 4K, numpy's strided copy 70
        if not self.started:
            p.setup_source(bgr)  # sets imgsz and the model's feature sizes
            p.inference_state = p._init_state(MAX_FRAMES)
            self.started = True
        self.index += 1
        p.dataset = types.SimpleNamespace(frame=self.index, mode="video", frames=MAX_FRAMES)
        p.batch = (["frame"], [bgr], [""])  # src_shape reads batch[1][0]
        im = p.preprocess([bgr])
        p.inference_state["im"] = im
        return im, bgr.shape[:2]

    def _features(self, im):
        """The frame's image features, computed once and handed to the predictor through its hook for precomputed
        ones (`backbone_out`): without, a prompted frame runs the image encoder twice (for its mask, then for its
        memory)."""
        return self.video.encode(im)

    def step(self, image: np.ndarray, mask: np.ndarray | None = None):
        """Propagate to the next frame, `image` as uint8 RGB (re-prompted with `mask` if given).

        Returns the full-resolution probability (H, W) float32, the sigmoid of the mask logits as a torch tensor
        on the model's device (no float math on the host), and the object score logit; a score <= 0 means the
        model lost the subject (the predictor then sets every logit to -1024: probability 0)."""
        p, torch = self.predictor, self.torch
        torch.set_num_threads(self.video.threads)  # per thread (torch_device.use_threads): this pass's thread
        with torch.inference_mode():
            im, (h, w) = self._frame(image)
            p.backbone_out = self._features(im)
            try:
                if mask is not None:
                    prompt = p._prepare_prompts(im.shape[2:], (h, w), masks=[mask.astype(np.float32)])[2]
                    p.add_new_prompts(obj_id=0, masks=prompt, frame_idx=self.index)
                low, _ = p.inference(im)
            finally:
                p.backbone_out = None
            out = p.inference_state["output_dict"]
            frame_out = out["cond_frame_outputs"].get(self.index) or out["non_cond_frame_outputs"][self.index]
            score = float(frame_out["object_score_logits"].flatten()[0])
            size = low.shape[-1]
            if self.stretched:
                vh = vw = size
            else:  # letterboxed: the frame fills the top-left, the rest is padding
                gain = min(size / h, size / w)
                vh, vw = round(h * gain), round(w * gain)
            logits = torch.nn.functional.interpolate(low[None, :1, :vh, :vw].float(), (h, w), mode="bilinear",
                                                     align_corners=False)[0, 0]
        return torch.sigmoid(logits), score
