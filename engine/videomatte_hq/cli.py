"""The `videomatte-hq` command: options map onto config keys; the work happens in api.run (in-process API)."""

from __future__ import annotations

import json
import signal
from typing import Optional

import typer

from .config import build_config
from .errors import Cancelled, VideomatteError, frame_range
from .events import Events, terminal_sinks
from .version import __version__

IO, ANCHOR, SEG, REF, RUN = "Input / output", "Anchor", "Segmentation & trimap", "Refinement", "Runtime"

app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Video matting for VFX plates: anchor mask -> tracked trimap -> refined alpha.")


def _parse_extra_anchors(values: list[str] | None) -> dict[int, str] | None:
    if not values:
        return None
    anchors = {}
    for value in values:
        frame, sep, path = value.partition("=")
        if not sep or not frame.strip().lstrip("-").isdigit():
            raise VideomatteError(f"--extra-anchor {value!r} is not FRAME=PATH", code="config",
                                  hint="e.g. --extra-anchor 1040=roto/anchor_1040.png")
        if int(frame) in anchors:
            raise VideomatteError(f"--extra-anchor gives frame {int(frame)} twice: {anchors[int(frame)]} and {path}",
                                  hint="give one anchor per frame", code="config")
        anchors[int(frame)] = path
    return anchors


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    """SIGTERM (SIGBREAK on Windows) from a host's cancel: unwind like Ctrl-C so temp files are removed and the
    report says so."""
    raise Cancelled()


def _fail(exc: VideomatteError) -> typer.Exit:
    Events(terminal_sinks("none")).error(exc.message, exc.hint, exc.code)
    return typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"videomatte-hq {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_command(
    ctx: typer.Context,
    input: Optional[str] = typer.Option(None, "--input", "-i", rich_help_panel=IO,
                                        help="Video file or frame sequence: plate.%04d.exr, plate.####.png, plate.@.png, "
                                             "plate.$F4.exr, plate.####.exr 1001-1012 (Nuke's range)"),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", "-o", rich_help_panel=IO,
                                             help="Where alpha/, qc/ and the JSON reports go"),
    frame_start: Optional[int] = typer.Option(None, rich_help_panel=IO,
                                              help="First frame, in the source's numbering (default: first)"),
    frame_end: Optional[int] = typer.Option(None, rich_help_panel=IO,
                                            help="Last frame, inclusive (default: last)"),
    alpha_format: Optional[str] = typer.Option(None, rich_help_panel=IO, help="png16 | png8 | exr16 | exr32"),
    alpha_pattern: Optional[str] = typer.Option(None, rich_help_panel=IO,
                                                help="Alpha file names in --output-dir, e.g. shotA_matte.####.exr "
                                                     "(default alpha/######.<ext>)"),
    foreground: bool = typer.Option(False, "--foreground", rich_help_panel=IO,
                                    help="Also write the straight foreground colour, foreground/######.exr "
                                         "(half, scene-linear: comp it over a new plate without the old one's "
                                         "colour in the soft edge)"),
    foreground_colorspace: Optional[str] = typer.Option(None, rich_help_panel=IO,
                                                        help="Colour space of the foreground outputs, e.g. "
                                                             "scene_linear (a host's working space); default: "
                                                             "the plate's own when linear"),
    matte_exr: bool = typer.Option(False, "--matte-exr", rich_help_panel=IO,
                                   help="Also write matte/######.exr: RGBA = premultiplied foreground + alpha "
                                        "(ready for Over), a trimap layer, and with --foreground the straight "
                                        "foreground layer"),
    input_colorspace: Optional[str] = typer.Option(None, rich_help_panel=IO,
                                                   help="auto (plate metadata or EXR chromaticities, else "
                                                        "EXR and float files linear Rec.709, others sRGB) | any OCIO "
                                                        "colour space, e.g. ACEScg"),
    ocio_config: Optional[str] = typer.Option(None, rich_help_panel=IO,
                                              help="OCIO config (default: $OCIO, else the built-in ACES config)"),
    video_rotation: Optional[str] = typer.Option(None, rich_help_panel=IO,
                                                 help="auto (a phone clip flagged to play turned is read turned, as "
                                                      "players show it) | ignore (as stored)"),
    config: Optional[str] = typer.Option(None, "--config", "-c", rich_help_panel=IO,
                                         help="JSON/YAML config; command-line options override it"),
    anchor_mask: Optional[str] = typer.Option(None, rich_help_panel=ANCHOR,
                                              help="Roto of the subject (white = subject): grey 8/16-bit or RGBA"),
    anchor_frame: Optional[int] = typer.Option(None, rich_help_panel=ANCHOR,
                                               help="Frame the anchor belongs to (default: --frame-start)"),
    extra_anchor: Optional[list[str]] = typer.Option(None, rich_help_panel=ANCHOR,
                                                     help="FRAME=PATH, re-anchor at that frame (repeatable)"),
    auto_anchor: bool = typer.Option(False, "--auto-anchor", rich_help_panel=ANCHOR,
                                     help="Detect the person on the first usable frame (default for videos "
                                          "without --anchor-mask)"),
    auto_anchor_method: Optional[str] = typer.Option(None, rich_help_panel=ANCHOR, help="auto | yolo | hog_grabcut"),
    auto_anchor_model: Optional[str] = typer.Option(None, rich_help_panel=ANCHOR,
                                                    help="YOLO file for the yolo method (default yolo11n-seg.pt)"),
    auto_anchor_min_luma: Optional[float] = typer.Option(None, rich_help_panel=ANCHOR,
                                                         help="Skip opening frames darker than this mean luma"),
    auto_anchor_probe_frames: Optional[int] = typer.Option(None, rich_help_panel=ANCHOR,
                                                           help="How many opening frames to probe"),
    segment_backend: Optional[str] = typer.Option(None, rich_help_panel=SEG,
                                                  help="Stage-1 backend: sam2 (default) | ultralytics_sam3 | flow"),
    sam_model: Optional[str] = typer.Option(None, rich_help_panel=SEG,
                                            help="SAM file under third_party/ultralytics/ or a path (default sam2_l.pt)"),
    imgsz: Optional[int] = typer.Option(None, rich_help_panel=SEG, help="SAM input size (square, multiple of 32)"),
    trimap_band: Optional[str] = typer.Option(None, rich_help_panel=SEG, help="narrow | default | wider | maximum"),
    trimap_fg_threshold: Optional[float] = typer.Option(None, rich_help_panel=SEG,
                                                        help="Probability at or above which a pixel is foreground"),
    trimap_bg_threshold: Optional[float] = typer.Option(None, rich_help_panel=SEG,
                                                        help="Probability at or below which a pixel is background"),
    refine_backend: Optional[str] = typer.Option(None, rich_help_panel=REF, help="Stage-2 backend: mematte (default) | closed_form"),
    mematte_checkpoint: Optional[str] = typer.Option(None, rich_help_panel=REF,
                                                     help="MEMatte_ViTS_DIM.pth (default: under third_party/)"),
    mematte_repo_dir: Optional[str] = typer.Option(None, rich_help_panel=REF,
                                                   help="Clone of the official MEMatte repo (checkpoint default: "
                                                        "its checkpoints/MEMatte_ViTS_DIM.pth)"),
    no_refine: bool = typer.Option(False, "--no-refine", rich_help_panel=REF,
                                   help="Not supported: refinement is mandatory"),
    tile_size: Optional[int] = typer.Option(None, rich_help_panel=REF, help="Refinement tile size in px"),
    tile_overlap: Optional[int] = typer.Option(None, rich_help_panel=REF, help="Tile overlap in px"),
    batch_size: Optional[int] = typer.Option(None, rich_help_panel=REF, help="Tiles per forward pass"),
    skip_iou_threshold: Optional[float] = typer.Option(None, rich_help_panel=REF,
                                                       help="Reuse a tile's alpha when its band IoU with the "
                                                            "previous frame is at least this"),
    device: Optional[str] = typer.Option(None, rich_help_panel=RUN,
                                         help="auto | cpu | cuda | cuda:N: where the models run (flow and "
                                              "closed_form use none)"),
    precision: Optional[str] = typer.Option(None, rich_help_panel=RUN, help="auto | fp32 | fp16 | bf16"),
    threads: Optional[int] = typer.Option(None, rich_help_panel=RUN, help="CPU threads"),
    stage: Optional[str] = typer.Option(None, rich_help_panel=RUN,
                                        help="all | segment | refine (farm: segment once, refine in chunks)"),
    resume: bool = typer.Option(False, "--resume", rich_help_panel=RUN,
                                help="Keep frames a matching earlier run wrote; compute the rest"),
    overwrite: bool = typer.Option(False, "--overwrite", rich_help_panel=RUN,
                                   help="Replace outputs an earlier run left in --output-dir"),
    progress: Optional[str] = typer.Option(None, rich_help_panel=RUN,
                                           help="auto | bar | jsonl (JSON lines on stdout, for hosts) | none"),
    preflight: Optional[str] = typer.Option(None, rich_help_panel=RUN,
                                            help="full (decode every frame first) | headers"),
    allow_external_paths: bool = typer.Option(False, "--allow-external-paths", rich_help_panel=RUN,
                                              help="Allow model files outside third_party/"),
    executor: str = typer.Option("local", rich_help_panel=RUN,
                                 help="local | dask (segment, then refine chunks as Dask tasks)"),
    scheduler: Optional[str] = typer.Option(None, rich_help_panel=RUN,
                                            help="Dask scheduler address (default: a LocalCluster)"),
    chunk_size: int = typer.Option(10, rich_help_panel=RUN, help="Frames per refine chunk (dask, farm)"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit"),
) -> None:
    """Matte a shot. Example: videomatte-hq -i plate.####.exr --anchor-mask roto.png -o out/"""
    if ctx.invoked_subcommand:
        return
    sinks = terminal_sinks(progress or "auto")
    try:
        cfg = build_config(config, _overrides(ctx.params))
        if executor not in ("local", "dask"):
            raise VideomatteError(f"--executor {executor!r} is not local or dask", code="config",
                                  hint="--executor dask runs the farm split on a Dask cluster")
    except VideomatteError as exc:
        Events(sinks).error(exc.message, exc.hint, exc.code)
        raise typer.Exit(exc.exit_code) from None
    signal.signal(signal.SIGTERM, _on_sigterm)
    if hasattr(signal, "SIGBREAK"):  # Windows: a host's cancel sends Ctrl-Break (it has no SIGTERM to send)
        signal.signal(signal.SIGBREAK, _on_sigterm)
    from .api import run  # after validation: keeps `--help` and config errors fast

    events = Events(terminal_sinks(cfg.runtime.progress))
    try:
        if executor == "dask":
            from .farm.dask_executor import run_dask

            try:
                run_dask(cfg, scheduler, chunk_size, events)
            except VideomatteError as exc:
                events.error(exc.message, exc.hint, exc.code)
                raise
        else:
            run(cfg, events=events)
    except VideomatteError as exc:  # already reported (error event, report)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


# Options of the main command that are not config keys, and the ones spelled differently.
NOT_CONFIG = {"config", "version", "no_refine", "extra_anchor", "executor", "scheduler", "chunk_size"}
RENAMED = {"sam_model": "model"}


def _overrides(params: dict) -> dict:
    """The main command's parsed options as flat config keys (None = not given; a flag not set is not given)."""
    overrides = {RENAMED.get(k, k): (v or None) if isinstance(v, bool) else v
                 for k, v in params.items() if k not in NOT_CONFIG}
    overrides["extra_anchors"] = _parse_extra_anchors(params.get("extra_anchor"))
    overrides["refine_enabled"] = False if params.get("no_refine") else None
    return overrides


@app.command("status")
def status_command(output_dir: str = typer.Argument(..., help="A run's --output-dir"),
                   as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON")) -> None:
    """Show the run (and farm steps) in an output folder: running, ok, failed, cancelled or interrupted
    (its process died: a stale heartbeat or a dead pid)."""
    from pathlib import Path

    from .layout import OutputLayout
    from .report import read_status

    reports = read_status(OutputLayout(Path(output_dir), "png16").report_files())
    if not reports:
        raise _fail(VideomatteError(f"no run report in {output_dir}", code="no_report",
                                    hint="check the folder: it is the --output-dir of a run"))
    if as_json:
        typer.echo(json.dumps(reports, indent=2))
        return
    for r in reports:
        progress = ", ".join(f"{s} {p['done']}/{p['frames']}" for s, p in r.get("progress", {}).items())
        span = (r.get("frame_start"), r.get("frame_end"))
        typer.echo(f"{Path(r['file']).name}: {r['state']} (run {r.get('run_id')}, pid {r.get('pid')} on "
                   f"{r.get('host')}) frames {frame_range(*span) if None not in span else '?'}: {progress}")
        if r.get("error"):
            typer.echo(f"  error: {r['error']['message']}" + (f"\n  fix: {r['error']['hint']}"
                                                               if r["error"].get("hint") else ""))


@app.command("layout")
def layout_command(output_dir: str = typer.Option(..., "--output-dir", "-o", help="The run's --output-dir"),
                   alpha_format: str = typer.Option("png16", help="png16 | png8 | exr16 | exr32"),
                   alpha_pattern: Optional[str] = typer.Option(None, help="As the run's --alpha-pattern"),
                   foreground: bool = typer.Option(False, "--foreground", help="As the run's --foreground"),
                   matte_exr: bool = typer.Option(False, "--matte-exr", help="As the run's --matte-exr"),
                   as_json: bool = typer.Option(False, "--json", help="Print as JSON (for hosts)")) -> None:
    """The files a run into OUTPUT_DIR writes (patterns with # for the frame number): what hosts read."""
    from .layout import OutputLayout

    try:
        cfg = build_config(None, {"output_dir": output_dir, "alpha_format": alpha_format,
                                  "alpha_pattern": alpha_pattern, "foreground": foreground or None,
                                  "matte_exr": matte_exr or None})
        layout = OutputLayout.of(cfg.io).describe()
    except VideomatteError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(layout, indent=2) if as_json else "\n".join(f"{k}\t{v}" for k, v in layout.items()))


@app.command("validate-config")
def validate_config(file: str = typer.Argument(..., help="JSON or YAML config file")) -> None:
    """Check a config file without running; prints the resolved config."""
    try:
        cfg = build_config(file)
    except VideomatteError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))
    typer.echo(f"{file}: ok", err=True)


@app.command("make-example")
def make_example_command(
    out: str = typer.Argument(..., help="Folder for the generated shot"),
    width: int = typer.Option(320, min=16), height: int = typer.Option(180, min=16),
    frames: int = typer.Option(12, min=1), first: int = typer.Option(1001, help="First frame number"),
    fmt: str = typer.Option("exr", "--format", help="exr (linear half) | png (8-bit sRGB)"),
) -> None:
    """Write a generated example shot (plate sequence, anchor.png, ground-truth alpha) to try the tool on."""
    from .synthetic import make_example

    if fmt not in ("exr", "png"):
        raise typer.BadParameter(f"{fmt!r} is not exr or png", param_hint="--format")
    paths = make_example(out, width, height, frames, first, fmt)
    typer.echo(f"plate:  {paths['input']}\nanchor: {paths['anchor']}")


models_app = typer.Typer(help="Model files: list, install, verify (never downloaded at run time).")
app.add_typer(models_app, name="models")


def _model_errors(fn):
    """Run a models subcommand, turning user errors into one line + fix and exit code 3."""
    try:
        fn()
    except VideomatteError as exc:
        raise _fail(exc) from None


@models_app.command("list")
def models_list() -> None:
    """What is expected where, present or missing (with where to download it), with sha256."""
    from .fileio import file_sha256
    from .models import MODELS

    for model in MODELS.values():
        state = f"present sha256={file_sha256(model.path)}" if model.path.is_file() else f"MISSING ({model.source})"
        typer.echo(f"{model.name}\t{model.path}\t{state}\t{model.description}")


@models_app.command("install")
def models_install(name: str = typer.Argument(..., help="Model name (see `models list`)"),
                   source: str = typer.Option(..., "--from", help="The downloaded file")) -> None:
    """Copy a model file into third_party/ after checking it loads."""
    from pathlib import Path

    from .models import install

    _model_errors(lambda: typer.echo(f"installed {install(name, Path(source).expanduser())}"))


@models_app.command("verify")
def models_verify() -> None:
    """Load every installed model file strictly; exit 3 if one fails."""
    from .models import MODELS, verify

    def run() -> None:
        for model in MODELS.values():
            if model.path.is_file():
                typer.echo(f"{model.name}\tok\tsha256={verify(model, model.path)}")
            else:
                typer.echo(f"{model.name}\tmissing\t{model.path}")

    _model_errors(run)


farm_app = typer.Typer(help="Render farms: an OpenJD job bundle (Deadline Cloud, OpenCue), finalize.")
app.add_typer(farm_app, name="farm")


@farm_app.command("openjd", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def farm_openjd(ctx: typer.Context,
                bundle_dir: str = typer.Option(..., help="Folder for template.yaml + parameter_values.yaml"),
                chunk_size: int = typer.Option(10, help="Frames per Refine task"),
                name: Optional[str] = typer.Option(None, help="Job name (default: the plate's)")) -> None:
    """Write an OpenJD job bundle for the run the other options describe (the main command's options):
    Segment -> Refine chunks -> Finalize. Submit it with `deadline bundle submit BUNDLE_DIR`."""
    from pathlib import Path

    from .farm.bundle import job_template, write_bundle
    from .io.source import open_source

    try:
        parsed = typer.main.get_command(app).make_context("videomatte-hq", list(ctx.args)).params
        cfg = build_config(parsed["config"], _overrides(parsed))
        if not cfg.io.input or not cfg.io.output_dir:
            raise VideomatteError("farm openjd needs --input and --output-dir", code="config",
                                  hint="pass the run's options as for a local run, plus --bundle-dir")
        source = open_source(cfg.io.input, cfg.io.input_colorspace, lambda message: None, 1, cfg.io.ocio_config,
                             video_rotation=cfg.io.video_rotation)
        first, last = source.span(cfg.io.frame_start, cfg.io.frame_end)
        template, values = job_template(cfg, first, last, chunk_size, name or Path(cfg.io.input).name)
        path = write_bundle(Path(bundle_dir), template, values)
    except VideomatteError as exc:
        raise _fail(exc) from None
    typer.echo(f"OpenJD job bundle written: {path}\n  submit: deadline bundle submit {Path(bundle_dir)}")


@farm_app.command("finalize")
def farm_finalize(output_dir: str = typer.Argument(..., help="The job's --output-dir"),
                  chunk_size: Optional[int] = typer.Option(None, help="The job's chunk size (names chunks that "
                                                                      "never ran)"),
                  frame_start: Optional[int] = typer.Option(None), frame_end: Optional[int] = typer.Option(None)
                  ) -> None:
    """Check every frame's trimap and alpha (one run's settings), merge the step reports into
    run_summary.json; name each missing or failed chunk with the command that re-runs it (exit 2)."""
    from pathlib import Path

    from .farm.finalize import finalize

    try:
        summary = finalize(Path(output_dir), frame_start, frame_end, chunk_size)
    except VideomatteError as exc:
        raise _fail(exc) from None
    typer.echo(f"{summary['frame_count']} frames complete in {output_dir}: run_summary.json written")


INPUT_FLAGS = {"-i", "--input"}


def _expanded_wildcard(args: list[str]) -> VideomatteError | None:
    """`--input plate.*.exr` unquoted: the shell passes every file, and the command line parser would read the
    second as a command name ("No such command"). Named here, with the sequence pattern to give instead."""
    if not INPUT_FLAGS & set(args):  # no input given: nothing to look at, nothing imported
        return None
    import shlex
    from itertools import takewhile
    from pathlib import Path

    from .errors import format_frames
    from .io.sequence import parse_pattern

    for i, arg in enumerate(args):
        files = list(takewhile(lambda a: not a.startswith("-"), args[i + 1:])) if arg in INPUT_FLAGS else []
        if len(files) > 1 and all(Path(f).is_file() for f in files):
            sequence = parse_pattern(files[0])
            found = sequence.scan() if sequence is not None else None
            hint = (f"quote the pattern, or give the sequence: --input {shlex.quote(found.pattern)} (frames "
                    f"{format_frames(found.frames)} on disk; --frame-start/--frame-end pick fewer)"
                    if found and found.frames else "give one video file or one sequence pattern (plate.####.exr)")
            return VideomatteError(f"--input takes one video file or sequence, not {len(files)} files ({files[0]} "
                                   f"... {files[-1]}): was it an unquoted wildcard?", hint=hint, code="input")
    return None


def _joined_range(args: list[str]) -> list[str]:
    """`-i plate.####.exr 1001-1012` unquoted, as Nuke's file browser shows a sequence: one --input (no command
    is named like a range)."""
    if not INPUT_FLAGS & set(args):
        return args
    import re

    from .io.source import FRAME_RANGE

    for i, arg in enumerate(args[:-2]):
        if arg in INPUT_FLAGS and re.fullmatch(FRAME_RANGE, args[i + 2]):
            return [*args[:i + 1], f"{args[i + 1]} {args[i + 2]}", *args[i + 3:]]
    return args


def main() -> None:
    import sys

    args = _joined_range(sys.argv[1:])
    wildcard = _expanded_wildcard(args)
    if wildcard is not None:
        sys.exit(_fail(wildcard).exit_code)
    app(args=args[1:] if args[:1] == ["run"] else args, prog_name="videomatte-hq")  # `videomatte-hq run ...` too


if __name__ == "__main__":  # `python -m videomatte_hq.cli`, the reference tool's documented command
    main()
