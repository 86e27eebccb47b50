"""Manual anchor masks: grey, RGBA (its alpha; its grey where the alpha is constant) or float EXR; white = subject."""

from __future__ import annotations

import shlex
from pathlib import Path

import cv2
import numpy as np

from .errors import VideomatteError
from .io.images import channel_names, read_image
from .io.sequence import parse_pattern

ASPECT_TOLERANCE = 0.01
GREY_TOLERANCE = 2 / 255


def _mask_channel(pixels: np.ndarray, names: tuple[str, ...], path: Path) -> np.ndarray:
    """The roto: the alpha where it holds one; else the grey of an image without alpha, or of one exported with an
    opaque alpha (a paint program's PNG), within GREY_TOLERANCE (a JPEG's rounding)."""
    alpha = names.index("A") if "A" in names else 1 if pixels.shape[2] == 2 else None
    if alpha is not None:
        if pixels[:, :, alpha].min() < pixels[:, :, alpha].max():
            return pixels[:, :, alpha]
        pixels = np.delete(pixels, alpha, axis=2)  # a constant alpha is no roto: the roto is in the colour
    if pixels.shape[2] == 1:
        return pixels[:, :, 0]
    if pixels.shape[2] == 3 and np.ptp(pixels, axis=2).max() <= GREY_TOLERANCE:
        return pixels.mean(axis=2)
    raise VideomatteError(f"anchor mask {path} is a colour image ({len(names)} channels, "
                          f"{'its alpha constant' if alpha is not None else 'no alpha'})",
                          hint="save the roto as a greyscale image (white = subject) or as RGBA with the matte in A",
                          code="anchor")


def _same_aspect(size: tuple[int, int], plate: tuple[int, int]) -> bool:
    return abs(size[0] / size[1] - plate[0] / plate[1]) <= ASPECT_TOLERANCE * (plate[0] / plate[1])


def _missing(path: Path, option: str) -> VideomatteError:
    """A missing anchor file; a roto sequence's pattern (a Nuke Write's roto.####.png) is named as such, with its
    frames as the one anchor and the extra ones it takes."""
    sequence = parse_pattern(str(path)) if not path.exists() else None
    frames = sequence.scan().frames if sequence is not None else []
    if not frames:
        return VideomatteError(f"anchor mask not found: {path}", code="anchor", hint=f"check {option}" + (
            "; it takes one image, not a sequence pattern" if sequence is not None else ""))
    hint = "give the roto of one frame as a file (an anchor for each of several frames: --extra-anchor FRAME=PATH)"
    if option == "--anchor-mask":
        first, *others = frames
        one = shlex.quote(str(sequence.path(first)))
        hint = f"give the roto of one frame: --anchor-mask {one} --anchor-frame {first}"
        if others:
            extra = shlex.quote(f"{others[0]}={sequence.path(others[0])}")
            hint += f"; another frame's re-anchors there: --extra-anchor {extra}"
    return VideomatteError(f"{option} {path} is a sequence pattern ({len(frames)} frames on disk): it takes one "
                           "image", hint=hint, code="anchor")


def load_anchor(path: Path, width: int, height: int, warn, option: str = "--anchor-mask",
                pixel_aspect: float = 1.0) -> np.ndarray:
    """The anchor as float32 (H, W) in [0, 1] at plate size; `option` is the one that named the file. An anchor
    of an anamorphic plate (`pixel_aspect` ≠ 1) may be drawn over the desqueezed picture, as a viewer shows it."""
    if not path.is_file():
        raise _missing(path, option)
    pixels, spec = read_image(path)
    mask = np.clip(_mask_channel(np.nan_to_num(pixels), tuple(channel_names(spec.channelnames)), path), 0.0, 1.0)
    h, w = mask.shape
    if (w, h) != (width, height):
        if pixel_aspect != 1.0 and _same_aspect((w, h), (width * pixel_aspect, height)):
            warn(f"anchor mask {path.name} is {w}x{h}, the plate desqueezed (pixel aspect {pixel_aspect:g}); resized "
                 f"to the plate's stored {width}x{height}")
        elif _same_aspect((w, h), (width, height)):
            warn(f"anchor mask {path.name} is {w}x{h}; resized to the plate's {width}x{height}")
        else:
            turned = _same_aspect((h, w), (width, height))  # drawn over a phone clip's other orientation
            hint = "export the anchor at plate resolution (or the same aspect ratio) for this shot"
            if turned:
                hint = "draw the anchor on the plate as players show it: a phone clip flagged to turn is read turned"
            raise VideomatteError(f"anchor mask {path} is {w}x{h} but the plate is {width}x{height} (different aspect "
                                  f"ratio{', turned 90°' if turned else ''})", hint=hint, code="anchor")
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_LINEAR)
    coverage = float((mask >= 0.5).mean())
    if coverage == 0.0:
        raise VideomatteError(f"anchor mask {path} is empty (no pixel >= 50%)",
                              hint="white marks the subject; check the roto is not inverted or black", code="anchor")
    if coverage == 1.0:
        raise VideomatteError(f"anchor mask {path} covers the whole frame",
                              hint="the anchor must leave some background; check it is not inverted", code="anchor")
    return mask.astype(np.float32)
