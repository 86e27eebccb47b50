"""`segment_backend: sam2` — Ultralytics SAM2 video propagation from the anchor mask (mask prompt).

`ultralytics_sam3` (the reference tool's name) selects SAM3's video predictor, which
ultralytics drives the same way. Probabilities are the sigmoid of the mask logits,
upsampled bilinearly to plate size; the thresholded masks are never used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import torch_device
from ..errors import VideomatteError
from ..models import SAM_FILES, ModelFile, resolve_model_path, ultralytics_model
from ..ultralytics_models import VideoModel, VideoSession, configure_offline, load_model, predict


class SAMTracker:
    """Takes each frame as its 8-bit RGB copy (what ultralytics' preprocessing reads); gives probabilities as numpy
    arrays, or on CUDA as tensors there."""

    def __init__(self, backend: "SAM2Backend") -> None:
        self.session = VideoSession(backend.video, backend.stretched)
        self.subject_lost = False

    def _prob(self, image: np.ndarray, mask: np.ndarray | None):
        prob, score = self.session.step(image, mask)
        self.subject_lost = score <= 0
        # On a GPU the probability stays there (33 MB a 4K frame): the trimap and the drift check's small mask are
        # made beside it, and only the uint8 trimap comes back.
        return prob if prob.is_cuda else prob.numpy()

    def start(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._prob(image, mask)

    reanchor = start  # a mask prompt on a new frame makes it another conditioning frame

    def step(self, image: np.ndarray) -> np.ndarray:
        return self._prob(image, None)


class SAM2Backend:
    name = "sam2"
    display_name = "SAM2"
    default_model = "sam2_l.pt"
    stretched = False  # SAM2 letterboxes to a square; SAM3 stretches
    frame_input = "u8"
    cuda_graph = True  # its image encoder replayed from a CUDA graph (runtime.cuda_graphs)

    @classmethod
    def model_files(cls, config) -> list[Path]:
        """`segmentation.model`: a file name under third_party/ultralytics/, or a path to one."""
        model, given = ultralytics_model(config.segmentation.model or cls.default_model, cls.display_name, SAM_FILES)
        return [resolve_model_path(model, given, True, cls.display_name)]

    @staticmethod
    def verify_file(model: ModelFile, path: Path) -> None:
        """`models verify`/`install`: load as a run will (the canonical file name picks the architecture)."""
        load_model(path, model.name + ".pt")

    @classmethod
    def mask_from_box(cls, config, image_bgr: np.ndarray, box: list[int], device: str | None) -> np.ndarray | None:
        """The subject's mask from a box prompt (auto-anchor), or None where SAM returns none."""
        path = cls.model_files(config)[0]
        masks = predict(load_model(path, path.name), image_bgr, config.runtime.cpu_threads, bboxes=[box],
                        device=device).masks
        return None if masks is None else masks.data[0].float().cpu().numpy()

    @classmethod
    def predictor_class(cls):
        configure_offline()
        from ultralytics.models.sam import SAM2VideoPredictor

        return SAM2VideoPredictor

    def __init__(self, config, warn) -> None:
        predictor_cls, path = self.predictor_class(), self.model_files(config)[0]
        device, precision = torch_device.setup(config, warn)
        self.device = str(device)
        # Loaded once a run: the forward and the backward pass track with it (the model keeps no state between
        # passes: each pass has its own predictor and inference state).
        self.video = VideoModel(predictor_cls, path, config.segmentation.imgsz, self.device, precision == "fp16",
                                config.runtime.cpu_threads, self.cuda_graph and config.runtime.cuda_graphs)

    def new_tracker(self) -> SAMTracker:
        return SAMTracker(self)


class SAM3Backend(SAM2Backend):
    name = "ultralytics_sam3"
    display_name = "SAM3"
    default_model = "sam3.pt"
    stretched = True
    cuda_graph = False  # not measured on a GPU

    @classmethod
    def model_files(cls, config) -> list[Path]:
        cls.predictor_class()  # preflight: fail now if this install has no SAM3
        return super().model_files(config)

    @classmethod
    def predictor_class(cls):
        configure_offline()
        try:
            import timm  # noqa: F401 - SAM3 needs it, ultralytics does not declare it
            from ultralytics.models.sam import SAM3VideoPredictor
        except ImportError as exc:
            raise VideomatteError(
                f"segment_backend ultralytics_sam3 needs SAM3 support, which this install lacks ({exc})",
                hint="pip install 'ultralytics>=8.4' timm, or use --segment-backend sam2", code="backend") from exc
        return SAM3VideoPredictor
