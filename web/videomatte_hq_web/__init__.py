"""videomatte-hq-web: a local web UI (Run / Jobs / QC / Settings) over the engine — one more thin host.

Jobs are engine subprocesses driven through the hosts' protocol client (`videomatte_client`: argv, JSON-lines
events); settings are validated by the engine's own config model; QC previews read the engine's output layout.
"""

from .server import WebConfig, create_app

__all__ = ["WebConfig", "create_app"]
