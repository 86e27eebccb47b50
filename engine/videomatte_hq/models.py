"""Model files: where they live (repo-local third_party/ by default), the path policy, install and verify."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .anchor import file_sha256
from .errors import ModelFileError

# The project checkout (engine/videomatte_hq/ -> root); VIDEOMATTE_HQ_ROOT points elsewhere for other installs.
PROJECT_ROOT = Path(os.environ.get("VIDEOMATTE_HQ_ROOT", Path(__file__).resolve().parents[2]))
THIRD_PARTY = PROJECT_ROOT / "third_party"


@dataclass(frozen=True)
class ModelFile:
    name: str
    relative: str
    description: str
    source: str

    @property
    def path(self) -> Path:
        return THIRD_PARTY / self.relative


MODELS = {
    "mematte": ModelFile("mematte", "MEMatte/checkpoints/MEMatte_ViTS_DIM.pth", "MEMatte ViT-S refinement (MIT)",
                         "https://github.com/linyiheng123/MEMatte (release checkpoint MEMatte_ViTS_DIM.pth)"),
}


def _install_hint(model: ModelFile) -> str:
    return (f"download it from {model.source}, then `videomatte-hq models install {model.name} --from FILE` "
            f"(copies it to {model.path})")


def resolve_model_path(model: ModelFile, given: str | None, allow_external: bool, label: str) -> Path:
    """The file to use: the default location, or `given` if the path policy allows it; must exist."""
    path = Path(given).expanduser().resolve() if given else model.path
    if given and not allow_external and not path.is_relative_to(THIRD_PARTY.resolve()):
        raise ModelFileError(f"External {label} paths are not allowed for this tool ({path})",
                             hint=f"install the file under {THIRD_PARTY} with `videomatte-hq models install "
                                  f"{model.name} --from FILE`, or pass --allow-external-paths", code="path_policy")
    if not path.is_file():
        raise ModelFileError(f"{label} checkpoint not found: {path}", hint=_install_hint(model), code="model_missing")
    return path


def verify(model: ModelFile, path: Path) -> str:
    """Load the file the way the engine will (strictly); returns its sha256."""
    if model.name == "mematte":
        from .refine.mematte.weights import load_mematte

        load_mematte(path)
    return file_sha256(path)


def install(name: str, source: Path) -> Path:
    if name not in MODELS:
        raise ModelFileError(f"unknown model '{name}'", hint=f"known: {', '.join(MODELS)}", code="model_name")
    model = MODELS[name]
    if not source.is_file():
        raise ModelFileError(f"file not found: {source}", hint="check --from", code="model_missing")
    verify(model, source)
    model.path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=model.path.parent, prefix=f".{model.path.name}.")
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, model.path)
    return model.path
