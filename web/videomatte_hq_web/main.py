"""`videomatte-hq-web`: start the local web UI and print its URL (with this launch's token)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path


def _data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "videomatte-hq-web"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="videomatte-hq-web", description=__doc__)
    parser.add_argument("--root", action="append", default=None, metavar="DIR",
                        help="a folder the UI may browse, read and write (repeatable; default: your home folder)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than loopback (anyone who can reach it and has the token can "
                             "run jobs and read files under the roots)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"job history (SQLite) and logs (default {_data_dir()})")
    parser.add_argument("--workers", type=int, default=1, help="jobs run at once (default 1)")
    parser.add_argument("--preview-cache-mb", type=int, default=64, help="QC preview cache bound (default 64)")
    args = parser.parse_args(argv)
    if not _loopback(args.host) and not args.allow_remote:
        parser.error(f"--host {args.host} is not a loopback address: add --allow-remote to serve other machines")
    return args


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from .server import WebConfig, create_app

    args = parse_args(argv)
    if not _loopback(args.host):
        print(f"warning: serving on {args.host}: other machines can reach this server (token required)",
              file=sys.stderr)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
        sock.listen(128)  # connections made as soon as the URL is printed wait for uvicorn, not refused
    except OSError as exc:
        sys.exit(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}\n  fix: pass --port 0 (any free "
                 "port) or another --port")
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    hosts = {f"{shown}:{port}"} | ({f"localhost:{port}", f"127.0.0.1:{port}"} if _loopback(args.host) else set())
    token = secrets.token_urlsafe(24)
    config = WebConfig(roots=[Path(r) for r in (args.root or [Path.home()])], data_dir=args.data_dir or _data_dir(),
                       token=token, workers=args.workers, preview_cache_bytes=args.preview_cache_mb << 20,
                       allowed_hosts=None if args.allow_remote else hosts)
    print(f"videomatte-hq-web: http://{shown}:{port}/?token={token}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
