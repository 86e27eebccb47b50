"""The FastAPI app: token-guarded JSON API + the static frontend, on one port.

Every /api request carries the per-launch token (header `X-VMHQ-Token`, or `?token=` where a browser cannot
set headers: <img> previews). No cookies, so another local page cannot ride a session (CSRF); the Host header
is checked against the bound address (DNS rebinding). Run settings are validated by the engine's config model.
"""

from __future__ import annotations

import hmac
import sys
import typing
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import cv2
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict

from videomatte_client import EngineCommand
from videomatte_hq import registry
from videomatte_hq.config import BAND_PRESETS, IOConfig, RuntimeConfig, build_config
from videomatte_hq.errors import VideomatteError
from videomatte_hq.layout import OutputLayout
from videomatte_hq.version import __version__

from .jobs import RESUMABLE, JobManager
from .paths import PathRefused, Roots
from .previews import KINDS, Previews
from .store import Store

STATIC = Path(__file__).parent / "static"
TOKEN_HEADER = "x-vmhq-token"
SECURITY_HEADERS = {
    # the token is in the page's URL: never send it on as a Referer; nothing loads from elsewhere
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


@dataclass
class WebConfig:
    roots: list[Path]  # the only folders browsed, read and written
    data_dir: Path  # jobs.sqlite3 and the job logs
    token: str
    engine: list[str] = field(default_factory=lambda: [sys.executable, "-m", "videomatte_hq"])
    preview_cache_bytes: int = 64 << 20
    workers: int = 1  # jobs run at once (one GPU: one)
    allowed_hosts: set[str] | None = None  # Host headers accepted; None: any (tests)


class RunParams(BaseModel):
    """What the Run page sends. Paths must be absolute and under the roots; the values are the engine's
    config keys, checked by the engine."""

    model_config = ConfigDict(extra="forbid")
    input: str
    output_dir: str
    frame_start: Optional[int] = None
    frame_end: Optional[int] = None
    anchor: Literal["file", "auto"] = "file"
    anchor_mask: Optional[str] = None
    anchor_frame: Optional[int] = None
    auto_anchor_method: Optional[str] = None
    trimap_band: str = "default"
    trimap_fg_threshold: Optional[float] = None
    trimap_bg_threshold: Optional[float] = None
    device: Optional[str] = None
    precision: Optional[str] = None
    segment_backend: Optional[str] = None
    refine_backend: Optional[str] = None
    alpha_format: str = "png16"
    alpha_pattern: Optional[str] = None
    foreground: bool = False
    matte_exr: bool = False
    input_colorspace: Optional[str] = None
    allow_external_paths: bool = False
    mematte_checkpoint: Optional[str] = None
    overwrite: bool = False


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = "auto"
    precision: str = "auto"
    output_root: Optional[str] = None


def _refused(message: str, hint: str = "", code: str = "invalid", status: int = 422) -> HTTPException:
    return HTTPException(status, {"message": message, "hint": hint, "code": code})


def _choices(model: type[BaseModel], key: str) -> list[str]:
    return list(typing.get_args(model.model_fields[key].annotation))


def create_app(config: WebConfig) -> FastAPI:
    roots = Roots(config.roots)
    store = Store(config.data_dir / "jobs.sqlite3")
    previews = Previews(config.preview_cache_bytes)
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["jobs"] = JobManager(store, config.data_dir / "logs", config.workers)
        yield
        state["jobs"].close()
        store.close()

    app = FastAPI(title="videomatte-hq-web", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.store, app.state.previews, app.state.web = store, previews, state

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if config.allowed_hosts is not None and request.headers.get("host") not in config.allowed_hosts:
            return JSONResponse({"message": "unexpected Host header", "hint": "open the URL the server printed",
                                 "code": "host"}, 403)
        if request.url.path.startswith("/api/"):
            token = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
            if not hmac.compare_digest(token.encode(), config.token.encode()):
                return JSONResponse({"message": "missing or wrong session token", "code": "token",
                                     "hint": "open the URL videomatte-hq-web printed (it carries ?token=...)"}, 401)
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or "request"
        return JSONResponse({"message": f"{where}: {err['msg']}", "hint": "correct the field and try again",
                             "code": "request"}, 422)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException):  # every error body is {message, hint, code}
        body = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail), "hint": "", "code": "http"}
        return JSONResponse(body, exc.status_code)

    @app.exception_handler(PathRefused)
    async def path_refused(request: Request, exc: PathRefused):
        return JSONResponse({"message": str(exc), "hint": "choose a file with Browse", "code": "path"}, 403)

    @app.exception_handler(VideomatteError)
    async def engine_refused(request: Request, exc: VideomatteError):
        return JSONResponse({"message": exc.message, "hint": exc.hint, "code": exc.code}, 422)

    def jobs() -> JobManager:
        return state["jobs"]

    def job_or_404(job_id: int) -> dict:
        job = jobs().get(job_id)
        if job is None:
            raise _refused(f"no job {job_id}", "see the Jobs page", "not_found", 404)
        return job

    def prepare(params: RunParams) -> tuple[dict, list[str], dict]:
        """(params with checked paths, engine argv, output layout); raises with the engine's own message."""
        p = params.model_copy()
        p.input = str(roots.check(p.input, "input"))
        p.output_dir = str(roots.check(p.output_dir, "output folder"))
        if p.anchor == "file":
            if not p.anchor_mask:
                raise _refused("no anchor mask chosen", "Browse for the subject's roto, or choose Auto-anchor",
                               "anchor")
            p.anchor_mask = str(roots.check(p.anchor_mask, "anchor mask"))
        else:
            p.anchor_mask = p.anchor_frame = None
        if p.mematte_checkpoint:
            p.mematte_checkpoint = str(roots.check(p.mematte_checkpoint, "MEMatte checkpoint"))
        flat = p.model_dump(exclude={"anchor", "overwrite"})
        flat["auto_anchor"] = p.anchor == "auto" or None
        cfg = build_config(None, {**flat, "allow_external_paths": p.allow_external_paths or None,
                                  "overwrite": p.overwrite or None})
        extra = (["--auto-anchor"] if p.anchor == "auto" else []) + (
            ["--auto-anchor-method", p.auto_anchor_method] if p.anchor == "auto" and p.auto_anchor_method else []) + (
            ["--allow-external-paths"] if p.allow_external_paths else []) + (
            ["--mematte-checkpoint", p.mematte_checkpoint] if p.mematte_checkpoint else [])
        command = EngineCommand(config.engine, p.input, p.output_dir, p.frame_start, p.frame_end,
                                anchor_mask=p.anchor_mask, anchor_frame=p.anchor_frame, trimap_band=p.trimap_band,
                                fg_threshold=p.trimap_fg_threshold, bg_threshold=p.trimap_bg_threshold,
                                device=p.device, precision=p.precision, alpha_format=p.alpha_format,
                                alpha_pattern=p.alpha_pattern, input_colorspace=p.input_colorspace,
                                segment_backend=p.segment_backend, refine_backend=p.refine_backend,
                                foreground=p.foreground, matte_exr=p.matte_exr, overwrite=p.overwrite,
                                extra_args=extra)
        layout = OutputLayout.of(cfg.io).describe()
        return p.model_dump(), command.argv(), layout

    # --- pages ----------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- API ------------------------------------------------------------------------------------------------
    @app.get("/api/info")
    def info() -> dict:
        return {"version": __version__, "roots": [str(r) for r in roots.roots], "band_presets": BAND_PRESETS,
                "segment_backends": registry.backend_names("segment"),
                "refine_backends": registry.backend_names("refine"),
                "alpha_formats": _choices(IOConfig, "alpha_format"),
                "precisions": _choices(RuntimeConfig, "precision"), "devices": ["auto", "cpu", "cuda"],
                "settings": {**Settings().model_dump(), **store.settings()}}

    @app.get("/api/browse")
    def browse(path: Optional[str] = None) -> dict:
        return roots.listing(path)

    @app.post("/api/validate")
    def validate(params: RunParams) -> dict:
        checked, argv, layout = prepare(params)
        return {"ok": True, "params": checked, "argv": argv, "layout": layout}

    @app.post("/api/jobs")
    def submit(params: RunParams) -> dict:
        checked, argv, layout = prepare(params)
        return jobs().get(jobs().submit(checked, argv, layout))

    @app.get("/api/jobs")
    def job_list() -> list[dict]:
        return jobs().all()

    @app.get("/api/jobs/{job_id}")
    def job_detail(job_id: int) -> dict:
        return job_or_404(job_id)

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: int) -> dict:
        job = job_or_404(job_id)
        if job["state"] not in ("queued", "running"):
            raise _refused(f"job {job_id} is {job['state']}, not running", code="state", status=409)
        return jobs().cancel(job_id)

    @app.post("/api/jobs/{job_id}/resume")
    def resume(job_id: int) -> dict:
        job = job_or_404(job_id)
        if job["state"] not in RESUMABLE:
            raise _refused(f"job {job_id} is {job['state']}; only a failed, cancelled or interrupted job resumes",
                           code="state", status=409)
        return jobs().resume(job_id)

    @app.get("/api/jobs/{job_id}/log")
    def job_log(job_id: int, tail: int = 400) -> dict:
        job_or_404(job_id)
        return {"log": jobs().log(job_id, tail)}

    @app.get("/api/jobs/{job_id}/frames")
    def job_frames(job_id: int) -> dict:
        return previews.frames(job_or_404(job_id))

    @app.get("/api/jobs/{job_id}/preview/{kind}/{frame}")
    def preview(job_id: int, kind: str, frame: int, width: int = 640, color: str = "00ff00") -> Response:
        job = job_or_404(job_id)
        if kind not in KINDS:
            raise _refused(f"unknown preview {kind!r}", f"one of {', '.join(KINDS)}", status=404)
        if not (16 <= width <= 4096) or len(color) != 6 or any(c not in "0123456789abcdefABCDEF" for c in color):
            raise _refused("width must be 16-4096 and color RRGGBB hex")
        roots.check(job["params"]["output_dir"], "output folder")  # roots may have changed since the job ran
        try:
            data = previews.image(job, kind, frame, width, color.lower())
        except FileNotFoundError as exc:
            raise _refused(f"frame {frame} has no {kind} yet ({Path(str(exc)).name})", code="not_found",
                           status=404) from None
        media = "image/png" if kind in ("alpha", "trimap") else "image/jpeg"
        return Response(data, media_type=media, headers={"Cache-Control": "no-store"})

    @app.post("/api/auto-anchor-preview")
    def auto_anchor_preview(params: RunParams) -> Response:
        """The mask auto-anchor would start from, over its frame (the engine's detector, in-process)."""
        from videomatte_hq.auto_anchor import find
        from videomatte_hq.io.source import open_source

        source_path = str(roots.check(params.input, "input"))
        cfg = build_config(None, {"input": source_path, "auto_anchor": True, "frame_start": params.frame_start,
                                  "frame_end": params.frame_end, "auto_anchor_method": params.auto_anchor_method,
                                  "input_colorspace": params.input_colorspace})
        source = open_source(source_path, cfg.io.input_colorspace, lambda message: None)
        first, last = source.span(cfg.io.frame_start, cfg.io.frame_end)
        found = find(source, [f for f in source.frames if first <= f <= last], cfg, lambda message: None)
        plate = source.read(found.frame)
        tinted = plate * 0.45 + np.array([1.0, 0.25, 0.2], np.float32) * 0.55
        overlay = np.where(found.mask[..., None] >= 0.5, tinted, plate * 0.6)
        pixels = cv2.cvtColor(np.clip(overlay * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
        data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()
        return Response(data, media_type="image/jpeg",
                        headers={"X-Anchor-Frame": str(found.frame), "X-Anchor-Method": found.method,
                                 "Cache-Control": "no-store"})

    @app.get("/api/settings")
    def get_settings() -> dict:
        return {**Settings().model_dump(), **store.settings()}

    @app.put("/api/settings")
    def put_settings(settings: Settings) -> dict:
        build_config(None, {"device": settings.device, "precision": settings.precision})
        if settings.output_root:
            settings.output_root = str(roots.check(settings.output_root, "output root"))
        store.save_settings(settings.model_dump())
        return get_settings()

    @app.get("/api/models")
    def models() -> list[dict]:
        """What `videomatte-hq models list` reports, with the install command of each missing file."""
        from videomatte_hq.fileio import file_sha256
        from videomatte_hq.models import MODELS, install_hint

        return [{"name": m.name, "path": str(m.path), "description": m.description, "present": m.path.is_file(),
                 "sha256": file_sha256(m.path) if m.path.is_file() else None,
                 "install": None if m.path.is_file() else install_hint(m)} for m in MODELS.values()]

    return app
