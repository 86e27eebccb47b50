"""Auto-anchor for video inputs: skip a black opening, find the person, make the anchor mask.

Methods (recorded in run_summary.json):
- `yolo`: an ultralytics YOLO person detector gives the box (and a mask, for -seg models);
  SAM refines it from the box prompt when the segment backend is a SAM one.
- `hog_grabcut`: weight-free; OpenCV's HOG people detector gives the box, GrabCut the mask.
- `auto`: `yolo` when its model file is installed, else `hog_grabcut` (with a warning saying so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import segment
from .errors import ModelFileError, VideomatteError, format_frames
from .io.colour import to_bgr_u8
from .io.source import FrameSource
from .models import YOLO_FILES, ModelFile, resolve_model_path, ultralytics_model
from .ultralytics_models import load_model, predict

PERSON = 0  # COCO class id
DETECT_MAX_SIDE = 960  # HOG and GrabCut run on a copy this size; the mask is scaled back
# A detection is accepted only above the detector's own confidence (HOG's SVM margin; YOLO's class probability;
# `auto_anchor_min_confidence` overrides), with a box at least `auto_anchor_min_height` of the frame height (a
# plate's subject is large, a prop is not), and a mask that fills at least MIN_MASK_FILL of its box (not a box
# of background). README "Auto-anchor".
MIN_CONFIDENCE = {"hog_grabcut": 1.0, "yolo": 0.25}
MIN_MASK_FILL = 0.15


@dataclass
class Detection:
    box: list[int]  # x0, y0, x1, y1 in plate pixels
    score: float
    mask: np.ndarray  # float32 (H, W)
    mask_from: str  # "sam" (box prompt), "yolo_seg" (the detector's mask) or "grabcut"


@dataclass
class AutoAnchor:
    frame: int
    mask: np.ndarray  # float32 (H, W) in {0, 1}
    method: str
    box: list[int]  # x0, y0, x1, y1 in plate pixels
    mask_from: str
    score: float
    dark_frames: list[int]


def luma(image: np.ndarray) -> float:
    """Mean Rec.709 luma of a display-referred RGB frame."""
    return float((image @ np.array([0.2126, 0.7152, 0.0722], np.float32)).mean())


def _yolo_file(config) -> Path:
    model, given = ultralytics_model(config.segmentation.auto_anchor_model, "auto-anchor", YOLO_FILES)
    return resolve_model_path(model, given, True, "auto-anchor YOLO")


def verify_file(model: ModelFile, path: Path) -> None:
    """`models verify`/`install` of a YOLO file: load as auto-anchor will."""
    load_model(path, model.name + ".pt")


def choose_method(config, warn) -> str:
    method = config.segmentation.auto_anchor_method
    if method != "auto":
        return method
    try:
        _yolo_file(config)
        return "yolo"
    except ModelFileError as exc:
        if exc.code != "model_missing":
            raise
        warn(f"{exc.message}; auto-anchor uses the weight-free hog_grabcut detector instead "
             "(see `videomatte-hq models list`)")
        return "hog_grabcut"


def _small(image: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    bgr = to_bgr_u8(image)
    return (cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            if scale < 1 else bgr), scale


def grabcut(image: np.ndarray, box: list[int]) -> np.ndarray:
    """Mask from a box (plate pixels): GrabCut on a small copy, largest connected component kept."""
    small, scale = _small(image)
    x0, y0, x1, y1 = (round(v * scale) for v in box)
    mask = np.zeros(small.shape[:2], np.uint8)
    cv2.setRNGSeed(0)  # GrabCut's k-means: the same mask whatever ran before in this process
    cv2.grabCut(small, mask, (x0, y0, x1 - x0, y1 - y0), np.zeros((1, 65)), np.zeros((1, 65)), 5,
                cv2.GC_INIT_WITH_RECT)
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if count > 1:
        fg = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    return cv2.resize(fg.astype(np.float32), image.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def hog_grabcut(image: np.ndarray) -> Detection | None:
    small, scale = _small(image)
    # HOG's people windows include a margin around the body: a subject filling the frame height (the usual
    # plate) is only found with a border added around the frame.
    pad = round(0.125 * small.shape[0])
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    rects, weights = hog.detectMultiScale(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE),
                                          winStride=(8, 8), padding=(8, 8), scale=1.05)
    if len(rects) == 0:
        return None
    best = int(np.argmax(np.ravel(weights)))  # most confident
    x, y, w, h = rects[best] - np.array([pad, pad, 0, 0])
    box = [round(v / scale) for v in (max(0, x), max(0, y), min(small.shape[1], x + w), min(small.shape[0], y + h))]
    return Detection(box, float(np.ravel(weights)[best]), grabcut(image, box), "grabcut")


def yolo(image: np.ndarray, config) -> Detection | None:
    path, device = _yolo_file(config), config.runtime.device.replace("auto", "") or None
    bgr, threads = to_bgr_u8(image), config.runtime.cpu_threads
    result = predict(load_model(path, path.name), bgr, threads, classes=[PERSON], device=device)
    if len(result.boxes) == 0:
        return None
    best = int(result.boxes.conf.argmax())
    box, score = [round(float(v)) for v in result.boxes.xyxy[best]], float(result.boxes.conf[best])
    mask_from_box = getattr(segment.backend_class(config.backend("segment")), "mask_from_box", None)
    if mask_from_box is not None:  # the segment model refines the box (SAM)
        mask = mask_from_box(config, bgr, box, device)
        if mask is not None:
            return Detection(box, score, mask, "sam")
    elif result.masks is not None:  # a -seg model: its polygon, in plate pixels
        mask = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(result.masks.xy[best]).astype(np.int32)], 1)
        return Detection(box, score, mask.astype(np.float32), "yolo_seg")
    return Detection(box, score, grabcut(image, box), "grabcut")


def implausible(found: Detection, method: str, height: int, seg) -> str | None:
    """Why this detection is not taken for the subject (low confidence, a small box, a box of background),
    or None. `seg`: the segmentation config (its auto_anchor_min_* thresholds)."""
    x0, y0, x1, y1 = found.box
    fill = float((found.mask[y0:y1, x0:x1] >= 0.5).mean()) if x1 > x0 and y1 > y0 else 0.0
    min_confidence = seg.auto_anchor_min_confidence
    min_confidence = MIN_CONFIDENCE[method] if min_confidence is None else min_confidence
    if found.score < min_confidence:
        return f"its confidence {found.score:.2f} is below {min_confidence}"
    if y1 - y0 < seg.auto_anchor_min_height * height:
        return (f"its box is {y1 - y0} px high, under {seg.auto_anchor_min_height:.0%} of the frame height "
                f"({height} px)")
    if fill < MIN_MASK_FILL:
        return f"its mask fills {fill:.0%} of its box (under {MIN_MASK_FILL:.0%})"
    return None


def find(source: FrameSource, frames: list[int], config, warn) -> AutoAnchor:
    """Probe past dark opening frames, then detect the person on the first usable one."""
    seg = config.segmentation
    method = choose_method(config, warn)
    probe = frames[:seg.auto_anchor_probe_frames]
    dark: list[int] = []
    for frame, image in source.iter_frames(probe):
        if luma(image) < seg.auto_anchor_min_luma:
            dark.append(frame)
            continue
        found = hog_grabcut(image) if method == "hog_grabcut" else yolo(image, config)
        if found is None or not found.mask.any():
            raise VideomatteError(
                f"auto-anchor ({method}) found no person on frame {frame} of {source.description}",
                hint="pass --anchor-mask FILE with a roto of the subject"
                     + (", or install a YOLO model for --auto-anchor-method yolo" if method == "hog_grabcut" else ""),
                code="auto_anchor")
        reason = implausible(found, method, image.shape[0], seg)
        if reason:
            raise VideomatteError(
                f"auto-anchor ({method}) found no plausible person on frame {frame} of {source.description}: the "
                f"best detection (box {found.box}) is refused because {reason}",
                hint="pass --anchor-mask FILE with a roto of the subject"
                     + (", or install a YOLO model for --auto-anchor-method yolo" if method == "hog_grabcut" else "")
                     + " (a small subject that is right: lower auto_anchor_min_confidence / auto_anchor_min_height)",
                code="auto_anchor")
        return AutoAnchor(frame, (found.mask >= 0.5).astype(np.float32), method, found.box, found.mask_from,
                          round(found.score, 4), dark)
    raise VideomatteError(
        f"auto-anchor: frames {format_frames(dark)} are all darker than auto_anchor_min_luma "
        f"{seg.auto_anchor_min_luma}", code="auto_anchor",
        hint="start later with --frame-start, raise --auto-anchor-probe-frames, lower --auto-anchor-min-luma, "
             "or pass --anchor-mask")
