"""Model files: where they live (repo-local third_party/ by default), the path policy, install and verify.

Each model names the code that loads it (`verifier`, resolved only when used): the backends verify their own
files, so this low layer never imports them."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .errors import ModelFileError
from .fileio import atomic_write, file_sha256

# The project checkout (engine/videomatte_hq/ -> root); VIDEOMATTE_HQ_ROOT points elsewhere for other installs.
PROJECT_ROOT = Path(os.environ.get("VIDEOMATTE_HQ_ROOT", Path(__file__).resolve().parents[2]))
# VIDEOMATTE_HQ_MODEL_DIR: the model folder alone (a farm job maps it like any other path; bundle.py).
THIRD_PARTY = Path(os.environ.get("VIDEOMATTE_HQ_MODEL_DIR") or PROJECT_ROOT / "third_party")


@dataclass(frozen=True)
class ModelFile:
    name: str
    relative: str
    description: str
    source: str
    verifier: str  # "module:Class.method", called as verifier(model, path): loads the file as a run will

    @property
    def path(self) -> Path:
        return THIRD_PARTY / self.relative


ULTRALYTICS_ASSETS = "https://github.com/ultralytics/assets/releases"
# ultralytics picks the architecture from the file name, so these names are the only valid ones.
SAM_FILES = tuple(f"sam2{v}_{size}.pt" for v in ("", ".1") for size in "tsbl") + ("sam3.pt",)
YOLO_FILES = ("yolo11n-seg.pt", "yolo11s-seg.pt", "yolo11n.pt", "yolo11s.pt")
SAM_VERIFY = "videomatte_hq.segment.sam2:SAM2Backend.verify_file"
YOLO_VERIFY = "videomatte_hq.auto_anchor:verify_file"

MODELS = {
    "mematte": ModelFile("mematte", "MEMatte/checkpoints/MEMatte_ViTS_DIM.pth", "MEMatte ViT-S refinement (MIT)",
                         "https://github.com/linyiheng123/MEMatte (release checkpoint MEMatte_ViTS_DIM.pth)",
                         "videomatte_hq.refine.mematte.backend:MEMatteBackend.verify_file"),
    **{f[:-3]: ModelFile(f[:-3], f"ultralytics/{f}", "SAM segmentation/tracking (ultralytics, AGPL-3.0)",
                         ULTRALYTICS_ASSETS, SAM_VERIFY) for f in SAM_FILES},
    **{f[:-3]: ModelFile(f[:-3], f"ultralytics/{f}", "YOLO person detector for auto-anchor (ultralytics, AGPL-3.0)",
                         ULTRALYTICS_ASSETS, YOLO_VERIFY) for f in YOLO_FILES},
}


def ultralytics_model(name: str, kind: str, valid: tuple[str, ...]) -> tuple[ModelFile, str | None]:
    """`name` is a file name under third_party/ultralytics/ or a path to one; returns the model entry
    and the explicit path (None for the default location)."""
    file = Path(name).name
    if file not in valid:
        raise ModelFileError(f"{kind} model file name {file!r} is not one ultralytics recognises",
                             hint=f"use one of {', '.join(valid)} (ultralytics picks the architecture from the "
                                  "file name; rename the file if needed)", code="model_name")
    return MODELS[file[:-3]], (name if file != name else None)


def install_hint(model: ModelFile) -> str:
    return (f"download it from {model.source}, then `videomatte-hq models install {model.name} --from FILE` "
            f"(copies it to {model.path})")


def check_policy(path: Path, model: ModelFile, allow_external: bool, label: str) -> Path:
    """`path` resolved; outside third_party/ only with --allow-external-paths (the reference's policy)."""
    path = path.expanduser().resolve()
    if not allow_external and not path.is_relative_to(THIRD_PARTY.resolve()):
        raise ModelFileError(f"External {label} paths are not allowed for this tool ({path})",
                             hint=f"install the file under {THIRD_PARTY} with `videomatte-hq models install "
                                  f"{model.name} --from FILE`, or pass --allow-external-paths", code="path_policy")
    return path


def resolve_model_path(model: ModelFile, given: str | None, allow_external: bool, label: str,
                       default: Path | None = None) -> Path:
    """The file to use: `given` if the path policy allows it, else `default` (or the model's own
    location under third_party/); it must exist."""
    path = check_policy(Path(given), model, allow_external, label) if given else (default or model.path)
    if not path.is_file():
        raise ModelFileError(f"{label} checkpoint not found: {path}", hint=install_hint(model), code="model_missing")
    return path


def verify(model: ModelFile, path: Path) -> str:
    """Load the file the way the engine will (strictly, by the code that uses it); returns its sha256."""
    registry.resolve(model.verifier)(model, path)
    return file_sha256(path)


def install(name: str, source: Path) -> Path:
    if name not in MODELS:
        raise ModelFileError(f"unknown model '{name}'", hint=f"known: {', '.join(MODELS)}", code="model_name")
    model = MODELS[name]
    if not source.is_file():
        raise ModelFileError(f"file not found: {source}", hint="check --from", code="model_missing")
    verify(model, source)
    atomic_write(model.path, lambda tmp: shutil.copyfile(source, tmp))
    return model.path
