"""Plate colour spaces through OpenColorIO (the OCIO embedded in OpenImageIO): a plate in any colour space of
the active config becomes the models' display-referred input (sRGB-encoded Rec.709 in [0, 1]).

The config is `--ocio-config FILE`, else `$OCIO`, else OpenImageIO's built-in ACES config. The space is
`--input-colorspace NAME` (any name or alias the config knows), else the plate's own `oiio:ColorSpace`
metadata when the config knows it, else the primaries an EXR's `chromaticities` declare (ACES AP0/AP1, Rec.709,
P3-D65, Rec.2020), else the documented default: linear Rec.709 for EXR/HDR, sRGB for the rest.
Linear Rec.709 and sRGB keep their exact lookup-table path (colour.py); other spaces are converted by OCIO.
"""

from __future__ import annotations

import atexit
import difflib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from ..errors import VideomatteError
from .colour import LINEAR_EXTENSIONS, clean_nonfinite, image_to_u8, rgb_channels, srgb_to_linear, to_model_rgb

LINEAR_REC709, SRGB = "lin_rec709", "srgb_rec709_scene"  # OCIO's interchange names, aliases in the configs
LEGACY = {"linear": LINEAR_REC709, "srgb": SRGB}  # the spellings this tool took before OCIO
# Scene-linear spaces by an EXR's `chromaticities` (red, green, blue and white xy), as those interchange names.
PRIMARIES = {
    "lin_ap0_scene": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767),
    "lin_ap1_scene": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "lin_rec709_scene": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "lin_p3d65_scene": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "lin_rec2020_scene": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
}


def space_of_primaries(chromaticities) -> str | None:
    """The scene-linear space whose primaries and white an EXR declares (to 0.002 in xy), or None."""
    if chromaticities is None:
        return None
    return next((name for name, xy in PRIMARIES.items() if np.allclose(chromaticities, xy, atol=0.002)), None)


@cache
def colour_config(path: str) -> oiio.ColorConfig:
    """The OCIO config of a file ('' = $OCIO, else the built-in one)."""
    config = oiio.ColorConfig(path)
    if path and (config.geterror() or not config.getNumColorSpaces()):
        raise VideomatteError(f"cannot read the OCIO config {path}: {config.geterror() or 'no colour spaces'}",
                              hint="check --ocio-config (an OCIO .ocio file, or ocio://cg-config-latest)",
                              code="ocio_config")
    return config


atexit.register(colour_config.cache_clear)  # released before interpreter teardown: nanobind reports leaks otherwise


@dataclass(frozen=True)
class PlateColour:
    config: str  # --ocio-config, or $OCIO, or "" (built-in)
    config_name: str
    space: str  # the config's name of the plate's colour space
    chosen_by: str  # "option", "metadata", "chromaticities" or "default"
    fast: bool | None  # True: linear Rec.709 table, False: sRGB clip, None: OCIO conversion
    target: str  # the config's sRGB Rec.709 space (the models' input)
    linear: bool
    linear_space: str  # the scene-linear space the foreground is computed and written in

    def _convert(self, rgb: np.ndarray, source: str, target: str) -> np.ndarray:
        out = oiio.ImageBufAlgo.colorconvert(oiio.ImageBuf(np.ascontiguousarray(rgb)), source, target,
                                             colorconfig=self.config)
        if out.has_error:
            raise VideomatteError(f"OCIO conversion {source} -> {target} failed: {out.geterror()}",
                                  hint="check --input-colorspace and the OCIO config", code="ocio")
        return out.get_pixels(oiio.FLOAT)

    def to_model(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Plate pixels (H, W, C; half or float) -> float32 RGB in [0, 1], display-referred; its 8-bit copy;
        the NaN/inf count."""
        if self.fast is not None:
            return to_model_rgb(pixels, self.fast)
        rgb, bad = clean_nonfinite(rgb_channels(pixels).astype(np.float32))
        rgb = np.clip(self._convert(rgb, self.space, self.target), 0.0, 1.0)
        return rgb, image_to_u8(rgb), bad

    def warm_up(self) -> None:
        """Make the first half-float frame's conversion as fast as the next ones: the compiled pass loads from
        numba's cache and the tables are built (0.4 s on the first call of a process, on a 2-core machine)."""
        if self.fast is not None:
            to_model_rgb(np.zeros((1, 1, 3), np.float16), self.fast)

    def to_linear(self, pixels: np.ndarray) -> np.ndarray:
        """Plate pixels -> float32 RGB in `linear_space`, where the compositing equation holds (values above 1
        kept; NaN/inf cleaned as for the models)."""
        rgb = clean_nonfinite(rgb_channels(pixels).astype(np.float32))[0]
        if self.space == self.linear_space:
            return np.ascontiguousarray(rgb)
        if self.fast is False:
            return srgb_to_linear(rgb)
        return self._convert(rgb, self.space, self.linear_space)

    def describe(self) -> dict[str, str | bool]:
        """For config_used/the run report, and the resume hash."""
        return {"ocio_config": self.config or "built-in", "config_name": self.config_name, "input_space": self.space,
                "chosen_by": self.chosen_by, "model_space": self.target, "scene_linear": self.linear,
                "foreground_space": self.linear_space}


def _known(config: oiio.ColorConfig, roles: bool = True) -> dict[str, str]:
    """Every name, alias and role (scene_linear: a host's working space) the config knows -> its colour space.
    Without `roles` for file metadata: files are tagged with spaces ('data' there means untagged, not a role)."""
    names = {role: config.getColorSpaceNameByRole(role) for role in config.getRoles()} if roles else {}
    for name in config.getColorSpaceNames():
        names[name] = name
        for alias in config.getAliases(name):
            names[alias] = name
    return {k: v for k, v in names.items() if v}


def _as_known(name: str, known: dict[str, str]) -> str:
    """`name` as the config spells it: OCIO looks colour spaces up regardless of case (`srgb_tx`, `acescg`)."""
    return name if name in known else next((k for k in known if k.lower() == name.lower()), name)


def _label(path: str, config: oiio.ColorConfig) -> str:
    """The config as an error names it: its file name, or the built-in config's name."""
    return Path(path).name if path else config.configname()


def _unknown(option: str, value: str, path: str, config: oiio.ColorConfig, known: dict[str, str]) -> VideomatteError:
    close = difflib.get_close_matches(value, list(known), n=4, cutoff=0.5)
    return VideomatteError(f"{option} {value!r} is not a colour space of the OCIO config ({_label(path, config)})",
                           hint=(f"did you mean {', '.join(close)}? " if close else "")
                           + "`python -c \"import OpenImageIO as o; print(o.ColorConfig().getColorSpaceNames())\"` "
                           "lists them (roles such as scene_linear work too)"
                           + ("; auto uses the plate's metadata or EXR = linear Rec.709, others sRGB"
                              if option == "--input-colorspace" else ""), code="colorspace")


def plate_colour(option: str, ocio_config: str | None, foreground_space: str | None, suffix: str,
                 metadata: str | None, chromaticities=None, floating: bool = False) -> PlateColour:
    """How a plate's pixels become model input and scene-linear foreground; `foreground_space` (a name, alias
    or role) overrides the foreground's space (default: the plate's own when linear). With `auto`, the file's
    colour-space tag, else the primaries its (linear) `chromaticities` declare, else the default: linear Rec.709
    for EXR/HDR and for any file of `floating`-point pixels (a float TIFF: Nuke's float LUT default), else sRGB."""
    path = str(ocio_config or os.environ.get("OCIO", ""))
    config = colour_config(str(ocio_config) if ocio_config else "")
    known = _known(config)
    if option == "auto":
        tagged = _known(config, roles=False)
        declared = space_of_primaries(chromaticities) if suffix.lower() in LINEAR_EXTENSIONS else None
        space, chosen_by = (tagged[metadata], "metadata") if metadata in tagged else (
            (tagged[declared], "chromaticities") if declared in tagged else (
                LINEAR_REC709 if suffix.lower() in LINEAR_EXTENSIONS or floating else SRGB, "default"))
    else:
        space, chosen_by = _as_known(option, known), "option"
        space = space if space in known else LEGACY.get(option.lower(), option)
    if space in LEGACY.values() and space not in known:  # a config without the interchange aliases
        if foreground_space is not None:
            raise VideomatteError(f"--foreground-colorspace needs the plate's colour space named in the OCIO config "
                                  f"({_label(path, config)}), not {option!r}",
                                  hint="pass --input-colorspace with one of the config's names", code="colorspace")
        fast = space == LINEAR_REC709
        return PlateColour(path, config.configname(), space, chosen_by, fast, space, fast, LINEAR_REC709)
    if space not in known:
        raise _unknown("--input-colorspace", option, path, config, known)
    foreground_space = None if foreground_space is None else _as_known(foreground_space, known)
    if foreground_space is not None and foreground_space not in known:
        raise _unknown("--foreground-colorspace", foreground_space, path, config, known)
    space = known[space]
    target = known.get(SRGB) or config.getColorSpaceNameByRole("color_picking")
    if not target:
        raise VideomatteError(f"the OCIO config {path} has no sRGB Rec.709 colour space (alias {SRGB})",
                              hint="use a config with one (the ACES configs have it), or pass --ocio-config",
                              code="ocio_config")
    fast = True if config.equivalent(space, LINEAR_REC709) else False if config.equivalent(space, SRGB) else None
    linear = bool(config.isColorSpaceLinear(space)) if fast is None else fast
    # The foreground's space: the plate's own when it is scene-linear, else its linear counterpart (sRGB ->
    # linear Rec.709) or the config's scene_linear role (log and display-encoded plates).
    linear_space = (known[foreground_space] if foreground_space else space if linear
                    else known.get(LINEAR_REC709) if fast is False
                    else config.getColorSpaceNameByRole("scene_linear") or known.get(LINEAR_REC709))
    if not linear_space:
        raise VideomatteError(f"the OCIO config {path} has no scene-linear colour space for the foreground of a "
                              f"{space} plate", code="ocio_config",
                              hint="use a config with a scene_linear role (the ACES configs have one)")
    return PlateColour(path, config.configname(), space, chosen_by, fast, target, linear, linear_space)
