"""Everything the gizmo decides, without the `nuke` module: settings from knob values, how the plate
reaches the engine (the Source Read's own files, or a render) in which colour space, frame mapping, the engine
command, the EXR channel names Nuke will show."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from videomatte_client import EngineCommand, engine_argv, parse_frames, printf_to_hashes

SEQUENCE = re.compile(r"#+|%0?\d*d")
# Files the engine reads as they are, with the colourspaces it assumes for them (EXR scene-linear, the rest
# sRGB). Anything else (movies, DPX, which is usually log, other colourspaces) is rendered to linear EXR first.
PASS_THROUGH = {".exr": ("linear", "scene_linear"), ".png": ("srgb",), ".tif": ("srgb",), ".tiff": ("srgb",),
                ".jpg": ("srgb",), ".jpeg": ("srgb",)}
# With Nuke's OCIO config known to the engine, these are passed with the Read's own colour space (DPX too).
OCIO_PASS_THROUGH = {*PASS_THROUGH, ".dpx"}
NUKE_RGBA = {"R": "red", "G": "green", "B": "blue", "A": "alpha"}


@dataclass
class NukeColour:
    """The script's colour management as the engine needs it: the OCIO config file (None under Nuke's own
    colour management, or a built-in config the engine cannot open) and the working space."""

    config: str | None
    working_space: str

    @classmethod
    def from_root(cls, root: dict, env: dict, nuke_dir: str) -> NukeColour:
        """`root`: the Root's colorManagement, OCIO_config, customOCIOConfigPath, workingSpaceLUT values;
        $OCIO wins as in Nuke; built-in configs live in <Nuke>/plugins/OCIOConfigs/configs/<name>/."""
        working = str(root.get("workingSpaceLUT") or "scene_linear")
        if env.get("OCIO"):
            return cls(env["OCIO"], working)
        if str(root.get("colorManagement", "")) != "OCIO":
            return cls(None, working)
        name = str(root.get("OCIO_config", ""))
        if name == "custom":
            return cls(str(root.get("customOCIOConfigPath") or "") or None, working)
        if name.startswith("ocio://"):
            return cls(name, working)
        bundled = os.path.join(nuke_dir, "plugins", "OCIOConfigs", "configs", name, "config.ocio")
        return cls(bundled if name and os.path.isfile(bundled) else None, working)


def read_colorspace(value: str) -> str:
    """A Read's colorspace knob as a colour space name: 'default (ACES - ACEScg)' -> 'ACES - ACEScg'."""
    value = value.strip()
    match = re.fullmatch(r"default\s*\((.*)\)", value)
    return (match.group(1) if match else "" if value == "default" else value).strip()


def nuke_channel(exr_name: str) -> str:
    """The channel a Read shows for an EXR channel name (Foundry's ExrChannelNameToNuke: last part = channel,
    R/G/B/A spelled red/green/blue/alpha, no layer = rgba)."""
    layer, _, channel = exr_name.rpartition(".")
    channel = NUKE_RGBA.get(channel, channel)
    return f"{layer or 'rgba'}.{channel}"


def _colourspace_ok(extension: str, colorspace: str) -> bool:
    """The Read's colourspace is what the engine assumes for this file type (`default` = Nuke's choice for
    the type, which is linear for EXR and sRGB for 8/16-bit formats)."""
    name = colorspace.lower().replace("default", "").strip(" ()")
    return not name or any(name.startswith(ok) for ok in PASS_THROUGH[extension])


class SetupError(Exception):
    """Something the compositor must change before Run (message says what and how)."""


@dataclass
class Settings:
    engine: str
    output_dir: str
    anchor_frame: int
    first: int
    last: int
    band: str
    fg_threshold: float
    bg_threshold: float
    device: str
    precision: str
    alpha_format: str
    chunk_size: int
    segment_backend: str = "sam2"
    refine_backend: str = "mematte"
    extra_anchor_frames: tuple[int, ...] = ()  # timeline frames where the Anchor input is rendered again
    foreground: bool = False  # the straight foreground colour too
    matte_exr: bool = False  # one layered EXR per frame, which the gizmo then reads

    @classmethod
    def from_knobs(cls, values: dict, input_range: tuple[int, int], current_frame: int) -> Settings:
        """`values`: the gizmo's knob values by name; the range is the Source's unless unticked."""
        first, last = input_range if values.get("use_input_range", True) else (int(values["first_frame"]),
                                                                                  int(values["last_frame"]))
        if first > last:
            raise SetupError(f"frame range {first}-{last} is empty: the first frame is after the last")
        anchor = int(values.get("anchor_frame") or current_frame)
        if not first <= anchor <= last:
            raise SetupError(f"anchor frame {anchor} is outside the frame range {first}-{last}: "
                             "set 'Anchor frame' to a frame the roto is drawn on")
        if not values.get("output_dir"):
            raise SetupError("set 'Output folder' first")
        try:
            extra = [f for f in parse_frames(str(values.get("extra_anchor_frames") or "")) if f != anchor]
        except ValueError as exc:
            raise SetupError(str(exc)) from None
        outside = [f for f in extra if not first <= f <= last]
        if outside:
            raise SetupError(f"extra anchor frames {outside} are outside the frame range {first}-{last}")
        return cls(str(values.get("engine") or "videomatte-hq"), str(values["output_dir"]), anchor, first, last,
                   str(values.get("band") or "default"), float(values.get("fg_threshold") or 0),
                   float(values.get("bg_threshold") or 0), str(values.get("device") or "auto"),
                   str(values.get("precision") or "auto"), str(values.get("alpha_format") or "png16"),
                   int(values.get("chunk_size") or 25), str(values.get("segment_backend") or "sam2"),
                   str(values.get("refine_backend") or "mematte"), tuple(extra), bool(values.get("foreground")),
                   bool(values.get("matte_exr")))


@dataclass
class PlatePlan:
    """How the engine gets the plate: `pattern` (#### form, file frames), offset = timeline - file frame.
    `render` means Nuke must first write the Source to `pattern` (EXR in the working space) over the range.
    `colorspace`/`ocio_config`/`working_space`: the plate's colour space in Nuke's OCIO config and the script's
    working space there (None: the engine's defaults)."""

    pattern: str
    offset: int
    render: bool
    colorspace: str | None = None
    ocio_config: str | None = None
    working_space: str | None = None

    def file_frame(self, timeline_frame: int) -> int:
        return timeline_frame - self.offset


def read_offset(knobs: dict) -> int:
    """Timeline minus file frame for a Read: `frame_mode` offset N / start at S (else 0)."""
    mode, value = knobs.get("frame_mode", ""), str(knobs.get("frame", "")).strip()
    if not value or mode not in ("offset", "start at"):
        return 0
    try:
        number = int(float(value))
    except ValueError:  # an expression: cannot be passed as a plain sequence
        raise SetupError(f"the Source Read retimes with the expression {value!r}") from None
    return number if mode == "offset" else number - int(knobs.get("first", 0))


def plate_plan(source_class: str, knobs: dict, output_dir: str, proxy: bool,
               colour: NukeColour | None = None) -> PlatePlan:
    """The Source Read's files are passed as they are when the engine can read them in the Read's colour space
    (any space of Nuke's OCIO config when the engine can open it, else what it assumes per file type) and
    nothing between them and the gizmo changes pixels; otherwise the Source is rendered to EXR."""
    config = colour.config if colour else None
    working = colour.working_space if config else None
    rendered = PlatePlan(os.path.join(output_dir, "plate", "plate.####.exr"), 0, True, working, config, working)
    file = str(knobs.get("file", ""))
    if source_class != "Read" or not SEQUENCE.search(file) or proxy or knobs.get("raw"):
        return rendered
    extension = os.path.splitext(file)[1].lower()
    space = read_colorspace(str(knobs.get("colorspace", "")))
    if config and extension in OCIO_PASS_THROUGH and space:
        plan = PlatePlan(printf_to_hashes(file), 0, False, space, config, working)
    elif extension in PASS_THROUGH and _colourspace_ok(extension, space):
        plan = PlatePlan(printf_to_hashes(file), 0, False)
    else:
        return rendered
    try:
        plan.offset = read_offset(knobs)
    except SetupError:
        return rendered  # an expression retime: render what Nuke shows
    return plan


def engine_command(settings: Settings, plate: PlatePlan, anchor_path: str | None, resume: bool,
                   extra_anchors: dict[int, str] | None = None) -> EngineCommand:
    """`extra_anchors`: timeline frame -> the Anchor input rendered there."""
    return EngineCommand(
        engine_argv(settings.engine), plate.pattern, settings.output_dir, plate.file_frame(settings.first),
        plate.file_frame(settings.last), anchor_mask=anchor_path, anchor_frame=plate.file_frame(settings.anchor_frame),
        extra_anchors={plate.file_frame(f): p for f, p in (extra_anchors or {}).items()},
        segment_backend=settings.segment_backend, refine_backend=settings.refine_backend,
        trimap_band=settings.band, fg_threshold=settings.fg_threshold or None,
        bg_threshold=settings.bg_threshold or None, device=settings.device, precision=settings.precision,
        alpha_format=settings.alpha_format,
        input_colorspace=plate.colorspace or ("linear" if plate.render else None), ocio_config=plate.ocio_config,
        # The gizmo reads the foreground raw: ask for it in the working space (Nuke's linear without OCIO).
        foreground_colorspace=plate.working_space if settings.foreground or settings.matte_exr else None, foreground=settings.foreground, matte_exr=settings.matte_exr, resume=resume, overwrite=not resume)


def anchor_pattern(output_dir: str) -> str:
    """Where Nuke renders the Anchor input's alpha (one frame) for the engine."""
    return os.path.join(output_dir, "anchor", "anchor.####.exr")


def result_knobs(frame_range: tuple[int, int], plate: PlatePlan, layout: dict) -> dict:
    """Top-level knob values that point the internal Reads at what the engine wrote: the file frames and the
    sequences of its run_start event (the engine owns the output layout; only top-level knobs are saved)."""
    return {"result_first": frame_range[0], "result_last": frame_range[1], "frame_offset": plate.offset,
            "alpha_file": layout["alpha_pattern"], "trimap_file": layout["trimap_pattern"],
            # an EXR's A channel reads as alpha; a PNG matte is grey: the gizmo moves its red into alpha
            "matte_in_red": not layout["alpha_pattern"].lower().endswith(".exr"),
            # the layered EXR, when the run wrote one: the gizmo outputs it instead of plate + alpha
            "matte_file": layout.get("matte_pattern") or "", "use_matte_exr": bool(layout.get("matte_pattern"))}
