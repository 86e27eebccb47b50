"""Engine command lines: what a host knows (paths, frames, settings) -> argv for `videomatte-hq`."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field



def engine_argv(setting: str, windows: bool | None = None) -> list[str]:
    """The engine setting of a host ('videomatte-hq', '/Volumes/Pipeline Tools/bin/videomatte-hq',
    '"C:\\Program Files\\vmhq\\python.exe" -m videomatte_hq') as an argv. A path to an existing file is taken
    whole (spaces and all); otherwise it is split like a shell: POSIX rules, or on Windows only double quotes
    group (backslashes in paths are kept)."""
    setting = setting.strip()
    if os.path.isfile(setting):
        return [setting]
    if windows if windows is not None else os.name == "nt":
        return [t[1:-1] if len(t) > 1 and t[0] == t[-1] == '"' else t for t in shlex.split(setting, posix=False)]
    return shlex.split(setting)


@dataclass
class EngineCommand:
    executable: list[str]  # e.g. ["/opt/vmhq/bin/videomatte-hq"] or ["/usr/bin/python3", "-m", "videomatte_hq"]
    input: str
    output_dir: str
    frame_start: int | None = None  # None: from the source's first / to its last frame
    frame_end: int | None = None
    anchor_mask: str | None = None
    anchor_frame: int | None = None
    extra_anchors: dict[int, str] = field(default_factory=dict)
    trimap_band: str | None = None
    fg_threshold: float | None = None
    bg_threshold: float | None = None
    device: str | None = None
    precision: str | None = None
    alpha_format: str = "png16"
    alpha_pattern: str | None = None
    input_colorspace: str | None = None  # the plate's colour space, as the host's OCIO config names it
    ocio_config: str | None = None  # the host's OCIO config (where that name is defined)
    foreground_colorspace: str | None = None  # the host's working space (e.g. the scene_linear role)
    video_rotation: str | None = None  # "ignore" where the host shows a phone clip unturned (engine default: auto)
    foreground: bool = False  # also the straight foreground colour (foreground/)
    matte_exr: bool = False  # also the layered EXR (matte/: premultiplied RGBA, trimap, foreground)
    segment_backend: str | None = None
    refine_backend: str | None = None
    resume: bool = False
    overwrite: bool = False
    extra_args: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        """The engine command (a farm splits it itself: farm_bundle)."""
        args = [*self.executable, "--input", self.input, "--output-dir", self.output_dir,
                "--alpha-format", self.alpha_format, "--progress", "jsonl"]
        for flag, frame in (("--frame-start", self.frame_start), ("--frame-end", self.frame_end)):
            if frame is not None:
                args += [flag, str(frame)]
        if self.anchor_mask:
            args += ["--anchor-mask", self.anchor_mask]
            if self.anchor_frame is not None:
                args += ["--anchor-frame", str(self.anchor_frame)]
        for frame, path in sorted(self.extra_anchors.items()):
            args += ["--extra-anchor", f"{frame}={path}"]
        options = {"--trimap-band": self.trimap_band, "--trimap-fg-threshold": self.fg_threshold,
                   "--trimap-bg-threshold": self.bg_threshold, "--device": self.device,
                   "--precision": self.precision, "--input-colorspace": self.input_colorspace,
                   "--segment-backend": self.segment_backend, "--refine-backend": self.refine_backend,
                   "--alpha-pattern": self.alpha_pattern, "--ocio-config": self.ocio_config,
                   "--foreground-colorspace": self.foreground_colorspace, "--video-rotation": self.video_rotation}
        for flag, value in options.items():
            if value is not None:
                args += [flag, str(value)]
        args += [flag for flag, on in (("--foreground", self.foreground), ("--matte-exr", self.matte_exr)) if on]
        if self.resume:
            args.append("--resume")
        elif self.overwrite:
            args.append("--overwrite")
        return args + list(self.extra_args)
