"""Videomatte HQ for Blender's compositor: a node group that runs the videomatte-hq engine (a subprocess,
through its command line and JSON-lines progress) and carries the alpha and trimap passes it writes."""

import os
import sys

# The engine-protocol client: bundled in `vendor/` by build.py, or the repository's host_client/.
_HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.join(_HERE, "vendor"), os.path.join(os.path.dirname(os.path.dirname(_HERE)), "host_client")):
    if os.path.isdir(os.path.join(_path, "videomatte_client")):
        if _path not in sys.path:
            sys.path.append(_path)
        break

from . import operators, props  # noqa: E402 - after the client path is set

MODULES = (props, operators)


def register() -> None:
    for module in MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(MODULES):
        module.unregister()
