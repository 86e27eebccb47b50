"""Weight-free stage 1: warp the previous mask with dense optical flow, re-fit its edge to the image.

Flow (OpenCV DIS) is computed on a downscaled grey copy from the current frame back to
the previous one, so the previous mask is pulled along it (backward warping, no holes).
Pixels the subject uncovered (disocclusions) are not pulled along: a pixel that no
subject pixel of the previous frame reaches under the forward flow starts as background,
which stops the mask from trailing a moving subject onto the background behind it.
The warped mask's edge is then re-fitted to the current image: GrabCut decides the pixels
within a band around the warped edge, with the subject's colour model learnt on the
anchored frames and kept (a model re-learnt from the tracked mask learns whatever the mask
crept onto and then keeps it), and the background's learnt on this frame in a ring around
the subject (what the edge competes with, not the whole frame's colours). Background that
looks as it did on the anchored frame (followed by the camera's motion) is background,
whatever the mask did since; so is a part of the mask that moves as the camera does while
the subject beside it does not (a background object of the subject's own colours, revealed
where the subject moved off it), or that the subject's own motion does not explain where the flow,
smeared across the edge between alike colours, is neither the camera's nor the subject's (background the
subject walked off). Where colour cannot tell the subject from the background (dark
hair over a dark sky, skin over a background of its tone), GrabCut alone would eat into the
subject a band a frame; there the flow decides: a pixel the mask carried along a reliable flow
(forward-backward consistent) that moves otherwise than the camera stays subject unless its
colour clearly belongs to the background. A guided filter (He et al. 2010) gives the binary result a
soft edge that follows the image; re-binarising each frame stops blur from accumulating.
Measured on the public clips: docs/benchmarks.md, "The weight-free tracker".
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..trimap import band_radius, ellipse

GUIDED_EPS = 1e-3
GRABCUT_ITERATIONS = 2
GRABCUT_SEED = 0x5EED
BG_RING = 3  # the background colour model is learnt within this many band widths outside the subject
MIN_RING_PIXELS = 50
FG_SAMPLES = 2000  # GrabCut learns both models at once: a few subject pixels go with the ring's
SPLAT_CLOSE = 2  # px radius: forward-splatted subject pixels land on a grid with gaps; close them
FB_RELATIVE, FB_ABSOLUTE = 0.01, 0.5  # forward-backward consistency bound (Sundaram et al. 2010), px^2
# The camera: corners of the background tracked between frames, a similarity transform fitted to them.
CORNERS, MIN_CORNERS, MIN_INLIERS = 400, 20, 0.5
RANSAC_PX = 1.0
STATIC_GREY = 3.0  # mean |difference| over a 5x5 patch (8-bit grey) under which a pixel is unchanged
SUBJECT_CHANGED_GREY = 2 * STATIC_GREY  # ...and over which it is changed (a clear margin: not noise)
CAMERA_FLOW_PX = 0.5  # a subject pixel whose flow is the camera's within this moves as the background does...
SUBJECT_APART_PX = 1.0  # ...where most of the subject's interior near it moves at least this much otherwise
NEAR_SUBJECT = 4  # band widths: the radius of "near it"
# A carried pixel (reliable flow, moving otherwise than the camera) stays subject unless its colour is this many
# times likelier under the background's model than the subject's (log of e^2: about 7).
BACKGROUND_LOG_RATIO = 2.0


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float,
                  full: np.ndarray | None = None) -> np.ndarray:
    """Grey-guide guided filter with box means (O(1) per pixel at any radius). With `full`, the guide at a larger
    size, the coefficients found at `guide`'s size are upsampled and applied to it: the fast guided filter (He and
    Sun 2015), whose cost is that of the small size (at 4K the full-size filter was a third of the tracker's time)."""
    size = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(src)
    cov_ip = mean(guide * src) - mean_i * mean_p
    var_i = mean(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    if full is None:
        return mean(a) * guide + mean(b)
    shape = (full.shape[1], full.shape[0])
    return (cv2.resize(mean(a), shape, interpolation=cv2.INTER_LINEAR) * full
            + cv2.resize(mean(b), shape, interpolation=cv2.INTER_LINEAR))


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def grabcut(*args) -> None:
    """cv2.grabCut, seeded: its k-means starts from OpenCV's thread RNG, whose state would otherwise depend on
    what ran before in the process (a resumed or farm-split run must give the same mattes)."""
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(*args)


def _models(img8: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut's (background, subject) colour models learnt from labelled pixels."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    grabcut(img8, labels.copy(), None, bgd, fgd, 0, cv2.GC_INIT_WITH_MASK)
    return bgd, fgd


def _log_density(model: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Log density (up to a shared constant) of `colours` (N, 3) under a GrabCut colour model (OpenCV's layout:
    5 weights, 5 means, 5 covariances)."""
    weights, means, covs = model[0, :5], model[0, 5:20].reshape(5, 3), model[0, 20:].reshape(5, 3, 3)
    terms = [np.log(w) - 0.5 * np.log(np.linalg.det(c)) - 0.5 * np.einsum("ni,ij,nj->n", colours - m,
                                                                         np.linalg.inv(c), colours - m)
             for w, m, c in zip(weights, means, covs) if w > 0]
    return np.logaddexp.reduce(np.stack(terms), axis=0)


def _is_fg(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _background_corners(grey: np.ndarray, fg: np.ndarray, band: int) -> np.ndarray | None:
    """Corners of the background at least two band widths from the subject `fg`."""
    far = (cv2.dilate(fg.astype(np.uint8), ellipse(2 * band)) == 0).astype(np.uint8) * 255
    return cv2.goodFeaturesToTrack(grey, CORNERS, 0.01, 7, mask=far)


def _track_camera(then: np.ndarray, now: np.ndarray, points: np.ndarray | None,
                 guess: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The camera's similarity transform mapping `now` onto `then` (RANSAC on `points` of `then` tracked into
    `now`, pyramidal Lucas-Kanade from `guess` if given), and where the points landed. None where no camera
    motion explains the background (too few corners, or parallax / a moving background)."""
    if points is None or len(points) < MIN_CORNERS:
        return None
    flags = 0 if guess is None else cv2.OPTFLOW_USE_INITIAL_FLOW
    moved, status, _ = cv2.calcOpticalFlowPyrLK(then, now, points, None if guess is None else guess.copy(),
                                                winSize=(21, 21), maxLevel=3, flags=flags)
    ok = status.ravel() == 1
    if ok.sum() < MIN_CORNERS:
        return None
    model, inliers = cv2.estimateAffinePartial2D(moved[ok], points[ok], method=cv2.RANSAC,
                                                 ransacReprojThreshold=RANSAC_PX)
    if model is None or inliers.sum() < max(MIN_CORNERS, MIN_INLIERS * ok.sum()):
        return None
    return model, moved


def _looks_unchanged(now: np.ndarray, then: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Pixels of `now` that look as `then` did where the camera transform `model` (now -> then) puts them."""
    h, w = now.shape
    back = cv2.warpAffine(then, model, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.boxFilter(np.abs(now.astype(np.float32) - back.astype(np.float32)), -1, (5, 5)) <= STATIC_GREY


class AnchorBackground:
    """The anchored frame's background, followed by the camera. A similarity transform (RANSAC on corners of
    the background tracked from the anchored frame) maps each frame onto the anchored one; pixels that look as
    they did there, where the anchored frame had background, are background. The reference is the anchored
    frame itself, so a region the tracked mask once took is given back as soon as it is seen unchanged."""

    def __init__(self, grey: np.ndarray, fg: np.ndarray, band: int) -> None:
        self.grey = grey
        self.subject = cv2.dilate(fg.astype(np.uint8), ellipse(2))
        self.points = _background_corners(grey, fg, band)
        self.guess = self.points

    def unchanged(self, grey: np.ndarray) -> np.ndarray | None:
        """Background pixels of this frame unchanged since the anchored frame; None where no camera motion
        explains the background."""
        found = _track_camera(self.grey, grey, self.points, self.guess)
        if found is None:
            return None
        model, self.guess = found
        h, w = grey.shape
        flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP  # model maps this frame onto the anchored one
        inside = cv2.warpAffine(np.ones_like(self.grey), model, (w, h), flags=flags)
        subject = cv2.warpAffine(self.subject, model, (w, h), flags=flags, borderValue=1)
        return (inside == 1) & (subject == 0) & _looks_unchanged(grey, self.grey, model)


class FlowTracker:
    def __init__(self, max_side: int, edge_radius_1080: int, band_1080: int) -> None:
        self.max_side = max_side
        self.edge_radius_1080 = edge_radius_1080
        self.band_1080 = band_1080
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.prev_small: np.ndarray | None = None
        self.prev_fg: np.ndarray | None = None  # the last binary subject at working size, float32
        self.fg_model: np.ndarray | None = None  # the subject's colours, learnt on the last anchored frame
        self.background: AnchorBackground | None = None
        self.subject_lost = False

    def _work_size(self, shape: tuple[int, ...]) -> tuple[int, int]:
        h, w = shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        return max(1, round(w * scale)), max(1, round(h * scale))

    @staticmethod
    def _resize(x: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
        return x if (x.shape[1], x.shape[0]) == size else cv2.resize(x, size, interpolation=interpolation)

    def _band(self, size: tuple[int, int]) -> int:
        return max(2, round(self.band_1080 * min(size) / 1080))

    def _labels(self, fg: np.ndarray, band: int) -> np.ndarray:
        """Decided far from the edge of `fg`, probable (the image decides) within `band` of it."""
        kernel = ellipse(band)
        m8 = fg.astype(np.uint8)
        labels = np.where(fg, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        labels[cv2.erode(m8, kernel) > 0] = cv2.GC_FGD
        labels[cv2.dilate(m8, kernel) == 0] = cv2.GC_BGD
        if not (labels == cv2.GC_FGD).any():  # subject thinner than the band: keep it as probable only
            labels[fg] = cv2.GC_PR_FGD
        return labels

    def _background_model(self, img8: np.ndarray, labels: np.ndarray, band: int) -> np.ndarray:
        fg = _is_fg(labels)
        outside = cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 3)
        ring = (outside > 0) & (outside <= BG_RING * band)
        if ring.sum() < MIN_RING_PIXELS:
            return _models(img8, labels)[0]
        sample = np.concatenate([img8[ring], img8[fg][:: max(1, int(fg.sum()) // FG_SAMPLES)]])[None]
        sample_labels = np.full(sample.shape[:2], cv2.GC_FGD, np.uint8)
        sample_labels[0, : int(ring.sum())] = cv2.GC_BGD
        return _models(sample, sample_labels)[0]

    def _grabcut(self, img8: np.ndarray, labels: np.ndarray, band: int, anchored: bool,
                 carried: np.ndarray | None = None) -> np.ndarray:
        fg = _is_fg(labels)
        if not fg.any() or fg.all():
            return fg
        if anchored or self.fg_model is None:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            grabcut(img8, labels, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
            result = _is_fg(labels)
            if result.any() and not result.all():
                self.fg_model = _models(img8, np.where(result, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8))[1]
            return result
        # One iteration: with both models frozen, each iteration builds the same graph (a probable pixel's
        # t-links come from the models, not from its current label), so a second one repeats the first exactly.
        background = self._background_model(img8, labels, band)
        if carried is not None:
            self._keep_carried(img8, labels, carried, background)
        grabcut(img8, labels, None, background, self.fg_model.copy(), 1, cv2.GC_EVAL_FREEZE_MODEL)
        return _is_fg(labels)

    def _keep_carried(self, img8: np.ndarray, labels: np.ndarray, carried: np.ndarray,
                      background: np.ndarray) -> None:
        """Carried pixels of the band's subject side become definite subject unless their colour clearly belongs
        to the background (`BACKGROUND_LOG_RATIO`): where the two models overlap, the flow decides."""
        ys, xs = np.nonzero((labels == cv2.GC_PR_FGD) & carried)
        if not len(ys):
            return
        colours = img8[ys, xs].astype(np.float64)
        ratio = _log_density(background, colours) - _log_density(self.fg_model, colours)
        keep = ratio < BACKGROUND_LOG_RATIO
        labels[ys[keep], xs[keep]] = cv2.GC_FGD

    def _fit(self, image: np.ndarray, greys: tuple[np.ndarray, np.ndarray], prior: np.ndarray, anchored: bool,
             background: np.ndarray | None = None, carried: np.ndarray | None = None) -> np.ndarray:
        h, w = image.shape[:2]
        size = self._work_size(image.shape)
        band = self._band(size)
        labels = self._labels(prior >= 0.5, band)
        if background is not None:
            labels[background] = cv2.GC_BGD
        img8 = (np.clip(self._resize(image, size, cv2.INTER_AREA), 0, 1) * 255).round().astype(np.uint8)
        self.prev_fg = self._grabcut(img8, labels, band, anchored, carried).astype(np.float32)
        self.subject_lost = not self.prev_fg.any()
        # The soft edge: the binary mask guided by the image, found at the working size and applied at the plate's.
        grey, work = greys
        radius = max(1, round(band_radius(self.edge_radius_1080, h, w) * size[0] / w))
        full = None if size == (w, h) else grey
        return np.clip(guided_filter(work, self.prev_fg, radius, GUIDED_EPS, full), 0.0, 1.0)

    def _greys(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The plate's grey, and that at the working size: made once a frame, for the flow and the soft edge."""
        grey = _grey(image)
        return grey, self._resize(grey, self._work_size(image.shape), cv2.INTER_AREA)

    @staticmethod
    def _u8(grey: np.ndarray) -> np.ndarray:
        return (grey * 255).round().astype(np.uint8)

    @staticmethod
    def _consistent(forward: np.ndarray, backward: np.ndarray, source: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Pixels whose backward flow the forward flow takes back (Sundaram et al. 2010: a round trip that does
        not come back is not a correspondence). `source`: where each pixel came from (the warp's maps)."""
        there = cv2.remap(forward, *source, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return ((backward + there) ** 2).sum(-1) <= FB_RELATIVE * (
            (backward ** 2).sum(-1) + (there ** 2).sum(-1)) + FB_ABSOLUTE

    def _uncovered(self, forward: np.ndarray, consistent: np.ndarray, warped: np.ndarray) -> np.ndarray:
        """Warped-subject pixels that no subject pixel of the previous frame reaches under the forward flow,
        where the two flows disagree: background the subject moved off (the backward flow is smooth across the
        subject's edge there). Where they agree, the correspondence holds even if the splat missed it (a
        subject with little texture gets poor flow)."""
        h, w = warped.shape
        ys, xs = np.nonzero(self.prev_fg >= 0.5)
        reached = np.zeros((h, w), np.uint8)
        reached[np.clip(np.round(ys + forward[ys, xs, 1]).astype(int), 0, h - 1),
                np.clip(np.round(xs + forward[ys, xs, 0]).astype(int), 0, w - 1)] = 1
        reached = cv2.dilate(reached, ellipse(SPLAT_CLOSE))
        return (warped >= 0.5) & (reached == 0) & ~consistent

    def _with_camera(self, small: np.ndarray, backward: np.ndarray, grid: np.ndarray, warped: np.ndarray,
                     band: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Warped-subject pixels that move as the background does where the subject near them does not: background
        the mask took in, e.g. where the subject revealed a background object of its own colours (colour cannot
        tell them apart; motion can). The flow there is the camera's, and the image is the previous frame's
        moved by the camera. Near a subject that itself moves with the camera (a still subject, a locked-off
        shot, a still body beside a waving arm) motion tells nothing apart, and nothing is taken there. Also
        returns each pixel's flow's distance from the camera's (px^2). None where no camera motion is found."""
        found = _track_camera(self.prev_small, small, _background_corners(self.prev_small, self.prev_fg >= 0.5, band))
        if found is None:
            return None
        model = found[0]
        camera = grid @ model[:, :2].T.astype(np.float32) + model[:, 2].astype(np.float32) - grid  # as `backward`
        fg = warped >= 0.5
        from_camera = ((backward - camera) ** 2).sum(-1)  # px^2
        # Most of the subject's interior near the pixel must move otherwise: a majority, not a mean, so that a
        # still body beside a waving arm stays (its neighbourhood is mostly the body, moving with the camera).
        interior = cv2.erode(fg.astype(np.uint8), ellipse(band)).astype(np.float32)
        window = (2 * NEAR_SUBJECT * band + 1,) * 2
        weight = cv2.boxFilter(interior, -1, window, normalize=False)
        alike = cv2.boxFilter(interior * (from_camera <= SUBJECT_APART_PX ** 2), -1, window, normalize=False)
        subject_apart = (weight > 0) & (alike < 0.5 * weight)
        # Looks as it did under the camera's motion, beside a subject that moves otherwise: background where its
        # flow is the camera's too, and where the subject's own motion nearby does not explain it (the flow smeared
        # across the edge between alike colours, a suit walking off a saucer of its hue, is neither the camera's
        # nor the subject's there). Of the latter only what reaches the mask's edge: background behind a subject
        # is outside it, a hole is not.
        left = fg & subject_apart & _looks_unchanged(small, self.prev_small, model)
        behind = left & self._unexplained(small, backward, grid, interior, band)
        parts = cv2.connectedComponents(behind.astype(np.uint8), connectivity=8)[1]
        at_edge = behind & (cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 3) <= band)
        return (left & (from_camera < CAMERA_FLOW_PX ** 2)) | np.isin(parts, parts[at_edge]), from_camera

    def _unexplained(self, small: np.ndarray, backward: np.ndarray, grid: np.ndarray, interior: np.ndarray,
                     band: int) -> np.ndarray:
        """Pixels that do not look as the previous frame did moved by the subject's mean motion nearby (its
        interior's flow within a band). A flat part of the subject looks the same under any motion: explained."""
        local = (2 * band + 1,) * 2
        near = np.maximum(cv2.boxFilter(interior, -1, local, normalize=False), 1.0)[..., None]
        along = grid + cv2.boxFilter(interior[..., None] * backward, -1, local, normalize=False) / near
        moved = cv2.remap(self.prev_small, along[..., 0], along[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        return cv2.boxFilter(np.abs(small.astype(np.float32) - moved.astype(np.float32)), -1,
                             (5, 5)) > SUBJECT_CHANGED_GREY

    def start(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        greys = self._greys(image)
        self.prev_small = self._u8(greys[1])
        size = self._work_size(image.shape)
        prob = self._fit(image, greys, self._resize(mask.astype(np.float32), size, cv2.INTER_LINEAR), anchored=True)
        self.background = AnchorBackground(self.prev_small, self.prev_fg >= 0.5, self._band(size))
        return prob

    reanchor = start

    def step(self, image: np.ndarray) -> np.ndarray:
        greys = self._greys(image)
        small = self._u8(greys[1])
        backward = self.flow.calc(small, self.prev_small, None)  # current -> previous: pull the mask along it
        forward = self.flow.calc(self.prev_small, small, None)
        grid = np.stack(np.meshgrid(np.arange(small.shape[1], dtype=np.float32),
                                    np.arange(small.shape[0], dtype=np.float32)), -1)
        source = (grid[..., 0] + backward[..., 0], grid[..., 1] + backward[..., 1])
        warped = cv2.remap(self.prev_fg, *source, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        consistent = self._consistent(forward, backward, source)
        warped[self._uncovered(forward, consistent, warped)] = 0.0
        background = self.background.unchanged(small)
        camera = self._with_camera(small, backward, grid, warped, self._band(small.shape))
        carried = None
        if camera is not None:
            moving, from_camera = camera
            warped[moving] = 0.0
            background = moving if background is None else background | moving
            # Carried along a reliable flow, moving otherwise than the background: the subject's own motion.
            carried = consistent & (from_camera >= SUBJECT_APART_PX ** 2)
        self.prev_small = small
        return self._fit(image, greys, warped, anchored=False, background=background, carried=carried)


class FlowBackend:
    name = "flow"

    def __init__(self, config, warn) -> None:
        self.max_side = config.segmentation.flow_max_side
        self.edge_radius = config.segmentation.flow_edge_radius
        self.band = config.segmentation.flow_refit_band

    @staticmethod
    def model_files(config) -> list[Path]:
        return []

    def new_tracker(self) -> FlowTracker:
        return FlowTracker(self.max_side, self.edge_radius, self.band)
