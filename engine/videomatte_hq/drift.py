"""Drift check: frames whose mask departs from the anchored frames' masks by more than a tracker should.

Any segment backend can creep onto the background (flow) or swap the subject for a look-alike (SAM2). Each
frame's mask is compared with the nearest anchored frame's roto: its area ratio, and its overlap once both
masks are centred on their centroids (so that a subject moving across the frame is not a departure). The
thresholds sit outside what the public benchmark clips' ground truth does (area 0.95-1.08x, centred IoU
at least 0.72 with a waving arm) and inside what the drifting tracker did (area 1.5x and centred IoU 0.5 within
a dozen frames): docs/benchmarks.md, "The weight-free tracker".
"""

from __future__ import annotations

import cv2
import numpy as np

AREA_RANGE = (0.5, 1.4)  # mask area / the anchored frame's, outside this: suspected
MIN_CENTRED_IOU = 0.6
CHECK_SIDE = 512  # masks are compared at this long side: the measures are relative, and it keeps them cheap


def _small(mask) -> np.ndarray:
    """The mask at CHECK_SIDE, from a numpy array or from a torch tensor where its model ran (reduced there: only
    the small mask comes back; torch's area mode is cv2's INTER_AREA for whole-number factors, and near it
    otherwise)."""
    h, w = mask.shape
    scale = min(1.0, CHECK_SIDE / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if not isinstance(mask, np.ndarray):
        import torch.nn.functional as F  # the mask is a torch tensor

        small = F.interpolate(mask[None, None].float(), size, mode="area")[0, 0] if scale < 1 else mask
        return (small >= 0.5).cpu().numpy()
    if scale < 1:
        mask = cv2.resize(mask.astype(np.float32, copy=False), size[::-1], interpolation=cv2.INTER_AREA)
    return mask >= 0.5


def centred_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two non-empty boolean masks after moving `b`'s centroid onto `a`'s."""
    ya, xa = np.nonzero(a)
    yb, xb = np.nonzero(b)
    shift = np.float32([[1, 0, xa.mean() - xb.mean()], [0, 1, ya.mean() - yb.mean()]])
    moved = cv2.warpAffine(b.astype(np.uint8), shift, (b.shape[1], b.shape[0]), flags=cv2.INTER_NEAREST) > 0
    return float((a & moved).sum() / (a | moved).sum())


class DriftCheck:
    def __init__(self, anchors: dict[int, np.ndarray]) -> None:
        self.anchors = {frame: _small(mask) for frame, mask in anchors.items() if (mask >= 0.5).any()}

    def departure(self, frame: int, prob) -> str | None:
        """Why this frame's mask looks drifted, or None (`prob`: as make_trimap takes it). Empty masks are the
        subject-lost check's."""
        mask = _small(prob)
        if not self.anchors or not mask.any():
            return None
        nearest = min(self.anchors, key=lambda f: (abs(f - frame), f))
        reference = self.anchors[nearest]
        area = mask.sum() / reference.sum()
        if not AREA_RANGE[0] <= area <= AREA_RANGE[1]:
            return f"area {area:.2f}x the anchor's (frame {nearest})"
        iou = centred_iou(mask, reference)
        if iou < MIN_CENTRED_IOU:
            return f"shape overlap {iou:.2f} with the anchor's (frame {nearest})"
        return None
