"""The run configuration: defaults, flat or grouped JSON/YAML files, CLI overrides, validation.

A file may use flat keys (``trimap_fg_threshold: 0.95``) or the groups ``io``,
``segmentation``, ``refinement``, ``runtime`` (or both). Every key name is unique
across groups, so a flat key always finds its group.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import VideomatteError

BandPreset = Literal["narrow", "default", "wider", "maximum"]

# Thresholds and the minimum unknown half-width (px at 1080 lines) of each band preset.
BAND_PRESETS: dict[str, dict[str, float]] = {
    "narrow": {"fg": 0.90, "bg": 0.10, "min_radius": 3},
    "default": {"fg": 0.97, "bg": 0.03, "min_radius": 6},
    "wider": {"fg": 0.99, "bg": 0.01, "min_radius": 12},
    "maximum": {"fg": 0.995, "bg": 0.005, "min_radius": 24},
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IOConfig(_Section):
    input: Optional[str] = Field(None, description="Video file or sequence pattern (%04d, ####, @)")
    output_dir: Optional[str] = None
    frame_start: Optional[int] = Field(None, description="First frame (source numbering, inclusive)")
    frame_end: Optional[int] = Field(None, description="Last frame (source numbering, inclusive)")
    anchor_mask: Optional[str] = None
    anchor_frame: Optional[int] = None
    extra_anchors: dict[int, str] = Field(default_factory=dict, description="frame -> mask path; re-anchor there")
    input_colorspace: str = Field("auto", description="auto (the plate's metadata, else EXR and float files "
                                                        "linear Rec.709, others sRGB) or any colour space of the OCIO "
                                                        "config")
    ocio_config: Optional[str] = Field(None, description="OCIO config file (default: $OCIO, else OpenImageIO's "
                                                         "built-in ACES config)")
    video_rotation: Literal["auto", "ignore"] = Field("auto", description="auto: a video flagged to play turned (a "
                                                      "phone clip) is read turned, as players and Blender 4.4+ "
                                                      "show it; ignore: as stored (Blender 4.3 and older)")
    alpha_format: Literal["png16", "png8", "exr16", "exr32"] = "png16"
    alpha_pattern: Optional[str] = Field(None, description="Alpha file names inside output_dir, one frame field "
                                                           "(####, %04d, @), e.g. shotA_matte.####.exr; default "
                                                           "alpha/<frame:06d>.<ext>")
    foreground: bool = Field(False, description="Also write the unpremultiplied foreground colour (half EXR "
                                                "foreground/<frame:06d>.exr, scene-linear)")
    foreground_colorspace: Optional[str] = Field(None, description="Colour space (name, alias or role, e.g. "
                                                                   "scene_linear: a host's working space) of "
                                                                   "the foreground outputs (default: the "
                                                                   "plate's own when linear)")
    matte_exr: bool = Field(False, description="Also write one layered EXR per frame, matte/<frame:06d>.exr: "
                                               "RGBA = premultiplied foreground + alpha, a trimap layer and, with "
                                               "foreground, the straight foreground layer")

    @model_validator(mode="before")
    @classmethod
    def _format_from_pattern(cls, data: Any) -> Any:
        """An alpha_pattern ending in .exr, with no alpha_format given, asks for EXR alphas (half, as Nuke's Write
        defaults to): a compositor names the format by the file's extension."""
        if isinstance(data, dict) and "alpha_format" not in data \
                and str(data.get("alpha_pattern") or "").lower().endswith(".exr"):
            return {**data, "alpha_format": "exr16"}
        return data


class SegmentationConfig(_Section):
    segment_backend: str = "sam2"
    model: Optional[str] = Field(None, description="SAM file under third_party/ultralytics/ or a path "
                                                   "(default: sam2_l.pt; sam3.pt for ultralytics_sam3)")
    imgsz: int = Field(1024, ge=128, multiple_of=32, description="Square size SAM letterboxes frames to")
    auto_anchor: bool = Field(False, description="Find the person on the first usable frame (video inputs)")
    auto_anchor_method: Literal["auto", "yolo", "hog_grabcut"] = "auto"
    auto_anchor_model: str = Field("yolo11n-seg.pt", description="YOLO file for auto_anchor_method yolo")
    auto_anchor_min_luma: float = Field(0.04, ge=0.0, le=1.0, description="Frames darker than this are skipped")
    auto_anchor_probe_frames: int = Field(48, ge=1, description="How far past a black opening to look")
    auto_anchor_min_confidence: Optional[float] = Field(
        None, ge=0.0, description="Refuse a detection below this confidence (default: 1.0 for hog_grabcut's SVM "
                                  "margin, 0.25 for YOLO's class probability)")
    auto_anchor_min_height: float = Field(0.25, ge=0.0, le=1.0,
                                          description="Refuse a detection box lower than this share of the frame")
    trimap_band: BandPreset = "default"
    trimap_fg_threshold: Optional[float] = Field(None, gt=0.0, lt=1.0)
    trimap_bg_threshold: Optional[float] = Field(None, gt=0.0, lt=1.0)
    flow_max_side: int = Field(1024, ge=64, description="Long side at which optical flow is computed")
    flow_edge_radius: int = Field(4, ge=1, description="Guided-filter radius (px at 1080 lines) of the soft edge")
    flow_refit_band: int = Field(16, ge=1, description="Half-width (px at 1080 lines) GrabCut may move the edge")


class RefinementConfig(_Section):
    refine_enabled: bool = True
    refine_backend: str = "mematte"
    tile_size: Optional[int] = Field(None, ge=64, description="Tile side in px (backend default if unset)")
    tile_overlap: Optional[int] = Field(None, ge=0)
    batch_size: Optional[int] = Field(None, ge=1, description="Tiles per model call (default: the backend's "
                                                               "for the device, e.g. mematte on CUDA the largest of "
                                                               "32, 16, 8 that fits, 4 on CPU)")
    refine_mode: Literal["auto", "full", "tiled"] = Field(
        "auto", description="full: the whole frame in one model call (the model's own computation); tiled: "
                            "overlapping tiles (bounded memory); auto: full where the backend says it fits and is "
                            "faster (MEMatte on CUDA up to about 4K), else tiled")
    temporal_reuse: bool = True
    skip_iou_threshold: float = Field(0.98, ge=0.0, le=1.0)
    skip_image_delta: float = Field(0.004, ge=0.0, description="Max mean |change| of a tile's image to reuse it")
    closed_form_method: Literal["cf", "lbdm"] = "cf"
    mematte_checkpoint: Optional[str] = Field(None, description="Default: third_party/MEMatte/checkpoints/...")
    mematte_repo_dir: Optional[str] = Field(None, description="Clone of the official repo; its checkpoints/ "
                                                              "holds the default checkpoint")

    @field_validator("refine_enabled")
    @classmethod
    def _mandatory(cls, value: bool) -> bool:
        if not value:
            raise ValueError("MEMatte refinement is mandatory for this tool")
        return value


class RuntimeConfig(_Section):
    device: str = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    threads: Optional[int] = Field(None, ge=1)
    stage: Literal["all", "segment", "refine"] = "all"
    resume: bool = False
    overwrite: bool = False
    progress: Literal["auto", "bar", "jsonl", "none"] = "auto"
    preflight: Literal["full", "headers"] = "full"
    cuda_graphs: bool = Field(True, description="On CUDA, replay SAM2's image encoder from a CUDA graph (the "
                                                "same values, fewer launches); false: eager")
    allow_external_paths: bool = False

    @property
    def cpu_threads(self) -> int:
        """`threads`, else every core this process may use."""
        if self.threads:
            return self.threads
        if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may use (containers, taskset)
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1  # macOS, Windows


SECTIONS: dict[str, type[_Section]] = {
    "io": IOConfig,
    "segmentation": SegmentationConfig,
    "refinement": RefinementConfig,
    "runtime": RuntimeConfig,
}
KEY_SECTION: dict[str, str] = {key: name for name, cls in SECTIONS.items() for key in cls.model_fields}
PATH_KEYS = ("input", "output_dir", "anchor_mask", "mematte_checkpoint", "mematte_repo_dir", "ocio_config")
# io keys that do not change what a trimap looks like; left out of the resume hash.
UNHASHED_KEYS = {"output_dir", "frame_start", "frame_end", "alpha_pattern"}
# What stage 2 writes: in its hash, not the trimaps'.
REFINE_OUTPUT_KEYS = {"alpha_format", "foreground", "foreground_colorspace", "matte_exr"}
BUILTIN_OCIO = "ocio://"  # OCIO's built-in configs are named, not files: no path resolution or mapping


def is_builtin_ocio(value: str | None) -> bool:
    return bool(value) and str(value).startswith(BUILTIN_OCIO)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    io: IOConfig = Field(default_factory=IOConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    refinement: RefinementConfig = Field(default_factory=RefinementConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    def flat(self) -> dict[str, Any]:
        return {k: v for section in SECTIONS for k, v in getattr(self, section).model_dump().items()}

    def backend(self, stage: str) -> str:
        return self.segmentation.segment_backend if stage == "segment" else self.refinement.refine_backend

    def thresholds(self) -> tuple[float, float, float]:
        """(fg, bg, min_radius) after applying the band preset; explicit thresholds win."""
        preset = BAND_PRESETS[self.segmentation.trimap_band]
        fg = self.segmentation.trimap_fg_threshold or preset["fg"]
        bg = self.segmentation.trimap_bg_threshold or preset["bg"]
        if bg >= fg:
            raise VideomatteError(
                f"trimap_bg_threshold ({bg}) must be below trimap_fg_threshold ({fg})",
                hint="lower --trimap-bg-threshold or raise --trimap-fg-threshold", code="config")
        return fg, bg, preset["min_radius"]

    def stage_hash(self, stage: str, extra: dict[str, Any]) -> str:
        """Stable hash of what determines a stage's output (resume compares it per frame).

        The trimap depends on io + segmentation settings; the alpha on the trimaps
        (their hash comes in `extra`), the refinement settings, alpha format and precision.
        """
        if stage == "segment":
            payload = {k: v for s in ("io", "segmentation") for k, v in getattr(self, s).model_dump().items()
                       if k not in UNHASHED_KEYS | REFINE_OUTPUT_KEYS}
        else:
            payload = {**self.refinement.model_dump(), "precision": self.runtime.precision,
                       **{k: getattr(self.io, k) for k in REFINE_OUTPUT_KEYS}}
        payload.update(extra)
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _unknown_key(key: str, where: str, group: str | None = None) -> VideomatteError:
    """A key no section has (closest names suggested, the group's own first), or one in the wrong group."""
    if group and key in KEY_SECTION:
        return VideomatteError(f"config key '{key}'{where} belongs in group '{KEY_SECTION[key]}'", code="config",
                               hint=f"move it under '{KEY_SECTION[key]}:', or write it at the top level")
    own = [name for name, section in KEY_SECTION.items() if section == group]
    close = (difflib.get_close_matches(key, own, n=1, cutoff=0.5)
             or difflib.get_close_matches(key, list(KEY_SECTION) + list(SECTIONS), n=1, cutoff=0.5))
    hint = f"did you mean '{close[0]}'?" if close else "see README 'Config reference' for the valid keys"
    return VideomatteError(f"unknown config key '{key}'{where}", hint=hint, code="config")


def _group(data: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """Sort flat and grouped keys into sections, rejecting unknown keys by name."""
    grouped: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise VideomatteError(f"config group '{key}' in {source} must be a mapping",
                                      hint=f"write it as '{key}: {{...}}'", code="config")
            for sub, sub_value in value.items():
                if KEY_SECTION.get(sub) != key:
                    raise _unknown_key(sub, f" in group '{key}' of {source}", key)
                grouped[key][sub] = sub_value
        elif key in KEY_SECTION:
            grouped[KEY_SECTION[key]][key] = value
        else:
            raise _unknown_key(key, f" in {source}")
    return grouped


def _environment(value: str, key: str, source: str) -> str:
    """A config file's path with its environment variables ($SHOW, ${SHOT}: a farm's mount roots) expanded; one
    that is not set is an error naming it, not a folder named after it."""
    expanded = os.path.expandvars(value)
    unset = re.search(r"\$\{?(\w+)", expanded)
    if unset:
        raise VideomatteError(f"'{key}' in {source} uses ${unset[1]}, which is not set in the environment",
                              hint=f"set {unset[1]} where videomatte-hq runs (on each farm worker too), or write the "
                              "path out", code="config")
    return expanded


def _resolve_paths(grouped: dict[str, dict[str, Any]], base: Path, source: str | None = None) -> None:
    """Paths made absolute against `base`; in a config file (`source`) environment variables are expanded first
    (a shell has already expanded the command line's)."""
    def resolved(value: str, key: str) -> str:
        text = _environment(value, key, source) if source else value
        return text if is_builtin_ocio(text) else str((base / Path(text).expanduser()).resolve())

    for key in PATH_KEYS:
        section = grouped[KEY_SECTION[key]]
        if section.get(key):
            section[key] = resolved(section[key], key)
    io = grouped["io"]
    if io.get("extra_anchors"):
        io["extra_anchors"] = {k: resolved(v, "extra_anchors") for k, v in io["extra_anchors"].items()}


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise VideomatteError(f"cannot read config file {path}: {exc.strerror}",
                              hint="check the --config path", code="config") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise VideomatteError(f"config file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}",
                              hint="fix the syntax; `videomatte-hq validate-config FILE` checks it", code="config")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VideomatteError(f"config file {path} must hold a mapping of keys", code="config",
                              hint="write 'key: value' lines (YAML) or a JSON object")
    return data


def build_config(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults <- config file <- CLI overrides (flat keys, None = not given)."""
    grouped: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    if file is not None:
        grouped = _group(read_config_file(file), str(file))
        _resolve_paths(grouped, Path(file).resolve().parent, str(file))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    cli = _group(given, "the command line")
    _resolve_paths(cli, Path.cwd())
    for name in SECTIONS:
        grouped[name].update(cli[name])
    try:
        config = Config(**grouped)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"][1:2]) or str(err["loc"][0])
        msg = err["msg"].removeprefix("Value error, ")
        if "mandatory" in msg:
            raise VideomatteError(msg, code="refine_disabled",
                                  hint="remove --no-refine / refine_enabled: false; refinement always runs") from None
        raise VideomatteError(f"invalid value for '{key}': {msg} (got {err.get('input')!r})",
                              hint="see README 'Config reference' for allowed values", code="config") from None
    config.thresholds()
    return config
