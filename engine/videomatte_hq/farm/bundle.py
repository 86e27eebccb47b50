"""The OpenJD job bundle (`jobtemplate-2023-09`): Segment (one task) -> Refine (one task per frame chunk) ->
Finalize. Every path is a job PATH parameter (a farm maps workstation paths to its own); every other setting
travels as the resolved config, embedded in each step's script, so the steps run exactly what was validated here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, is_builtin_ocio
from ..errors import VideomatteError
from ..fileio import atomic_write, make_dirs
from ..models import THIRD_PARTY

TEMPLATE = "template.yaml"
VALUES = "parameter_values.yaml"
# Keys that are paths (job parameters) or set per step; the embedded config holds the rest.
PER_STEP = {"io": ("input", "output_dir", "anchor_mask", "extra_anchors", "frame_start", "frame_end", "ocio_config"),
            "refinement": ("mematte_checkpoint", "mematte_repo_dir"),
            "runtime": ("stage", "resume", "overwrite", "progress")}


def chunks(first: int, last: int, size: int) -> list[tuple[int, int]]:
    """Inclusive frame ranges of at most `size` frames covering first..last."""
    if size < 1:
        raise VideomatteError(f"--chunk-size {size} must be at least 1", hint="e.g. --chunk-size 10", code="config")
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]


def _is_path(name: str | None) -> bool:
    return bool(name) and Path(name).name != name


def _path_param(name: str, kind: str, flow: str, description: str) -> dict[str, Any]:
    return {"name": name, "type": "PATH", "objectType": kind, "dataFlow": flow, "description": description}


def job_template(config: Config, first: int, last: int, chunk_size: int, name: str) -> tuple[dict, dict]:
    """(template, parameter values) of the shot's job."""
    io, seg, ref = config.io, config.segmentation, config.refinement
    plate = Path(io.input)
    params = [_path_param("PlateDir", "DIRECTORY", "IN", "Folder of the plate (sequence or video file)"),
              {"name": "PlateName", "type": "STRING", "description": "Plate file or sequence pattern in PlateDir"},
              _path_param("OutputDir", "DIRECTORY", "OUT", "The run's --output-dir"),
              _path_param("ModelDir", "DIRECTORY", "IN", "Model files (the install's third_party/)"),
              {"name": "EnginePython", "type": "STRING", "default": "python3",
               "description": "A Python with videomatte-hq installed, on the workers"}]
    values: dict[str, Any] = {"PlateDir": str(plate.parent), "PlateName": plate.name, "OutputDir": io.output_dir,
                              "ModelDir": str(THIRD_PARTY)}
    paths = ["--input", "{{Param.PlateDir}}/{{Param.PlateName}}", "--output-dir", "{{Param.OutputDir}}"]
    seg_paths: list[str] = []
    if io.anchor_mask:
        params.append(_path_param("AnchorMask", "FILE", "IN", "The subject's roto at the anchor frame"))
        values["AnchorMask"] = io.anchor_mask
        seg_paths += ["--anchor-mask", "{{Param.AnchorMask}}"]
    for i, (frame, path) in enumerate(sorted(io.extra_anchors.items())):
        params.append(_path_param(f"ExtraAnchor{i}", "FILE", "IN", f"Extra anchor at frame {frame}"))
        values[f"ExtraAnchor{i}"] = str(Path(path).resolve())
        seg_paths += ["--extra-anchor", f"{frame}={{{{Param.ExtraAnchor{i}}}}}"]
    model_paths = {"SamModel": (seg.model, "--sam-model"), "AutoAnchorModel": (seg.auto_anchor_model,
                                                                               "--auto-anchor-model")}
    for param, (value, flag) in model_paths.items():
        if _is_path(value):
            params.append(_path_param(param, "FILE", "IN", f"{flag} file"))
            values[param] = str(Path(value).resolve())
            seg_paths += [flag, f"{{{{Param.{param}}}}}"]
    if is_builtin_ocio(io.ocio_config):  # nothing to map
        paths += ["--ocio-config", io.ocio_config]
    elif io.ocio_config:  # both engine steps read the plate
        params.append(_path_param("OcioConfig", "FILE", "IN", "--ocio-config"))
        values["OcioConfig"] = io.ocio_config
        paths += ["--ocio-config", "{{Param.OcioConfig}}"]
    ref_paths: list[str] = []
    for param, value, flag in (("MEMatteCheckpoint", ref.mematte_checkpoint, "--mematte-checkpoint"),
                               ("MEMatteRepo", ref.mematte_repo_dir, "--mematte-repo-dir")):
        if value:
            params.append(_path_param(param, "FILE" if param.endswith("Checkpoint") else "DIRECTORY", "IN", flag))
            values[param] = value
            ref_paths += [flag, f"{{{{Param.{param}}}}}"]

    settings = config.model_dump(mode="json")
    for section, keys in PER_STEP.items():
        for key in keys:
            settings[section].pop(key)
    for key, flag in (("model", "--sam-model"), ("auto_anchor_model", "--auto-anchor-model")):
        if _is_path(settings["segmentation"][key]):
            settings["segmentation"].pop(key)
    embedded = [{"name": "Config", "type": "TEXT", "filename": "config.json", "data": json.dumps(settings, indent=1)}]
    gpu = [{"name": "amount.worker.gpu", "min": 1}] if config.runtime.device.startswith("cuda") else []

    def step(step_name: str, args: list[str], **extra: Any) -> dict[str, Any]:
        script: dict[str, Any] = {"actions": {"onRun": {"command": "{{Param.EnginePython}}", "args": args}}}
        body: dict[str, Any] = {"name": step_name, "script": script}
        if step_name != "Finalize":  # the engine steps: the settings file, and a GPU where the run uses one
            script["embeddedFiles"] = copy.deepcopy(embedded)
            if gpu:
                body["hostRequirements"] = {"amounts": copy.deepcopy(gpu)}
        return {**body, **extra}

    engine = ["-m", "videomatte_hq", "--config", "{{Task.File.Config}}", *paths, "--progress", "none", "--resume"]
    ranges = chunks(first, last, chunk_size)
    steps = [
        step("Segment", [*engine, *seg_paths, "--frame-start", str(first), "--frame-end", str(last),
                         "--stage", "segment"]),
        step("Refine", [*engine, *ref_paths, "--frame-start", "{{Task.Param.ChunkStart}}", "--frame-end",
                        "{{Task.Param.ChunkEnd}}", "--stage", "refine"],
             dependencies=[{"dependsOn": "Segment"}],
             parameterSpace={"taskParameterDefinitions": [
                 {"name": "ChunkStart", "type": "INT", "range": [a for a, _ in ranges]},
                 {"name": "ChunkEnd", "type": "INT", "range": [b for _, b in ranges]}],
                 "combination": "(ChunkStart, ChunkEnd)"}),
        step("Finalize", ["-m", "videomatte_hq", "farm", "finalize", "{{Param.OutputDir}}", "--chunk-size",
                          str(chunk_size), "--frame-start", str(first), "--frame-end", str(last)],
             dependencies=[{"dependsOn": "Refine"}]),
    ]
    template = {"specificationVersion": "jobtemplate-2023-09", "name": f"videomatte-hq {name}",
                "description": f"Matte {plate.name} frames {first}-{last}: segment once, refine in chunks of "
                               f"{chunk_size}, finalize",
                "parameterDefinitions": params,
                "jobEnvironments": [{"name": "VideomatteHQ", "variables": {
                    "VIDEOMATTE_HQ_MODEL_DIR": "{{Param.ModelDir}}", "PYTHONUNBUFFERED": "1"}}],
                "steps": steps}
    return template, values


def write_bundle(bundle_dir: Path, template: dict, values: dict) -> Path:
    """The bundle folder as Deadline Cloud reads it (`deadline bundle submit DIR`), after openjd-model has
    accepted the template."""
    from openjd.model import DecodeValidationError, decode_job_template

    try:
        decode_job_template(template=template)
    except DecodeValidationError as exc:  # a bug here, not the user's: say so plainly
        raise VideomatteError(f"the generated OpenJD template is invalid: {exc}", code="internal",
                              hint="report it with the command line") from None
    make_dirs(bundle_dir)
    for name, data in ((TEMPLATE, template),
                       (VALUES, {"parameterValues": [{"name": k, "value": v} for k, v in values.items()]})):
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120)
        atomic_write(bundle_dir / name, lambda tmp, text=text: Path(tmp).write_text(text))
    return bundle_dir / TEMPLATE


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the embedded settings) as YAML blocks, readable in the template."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))
