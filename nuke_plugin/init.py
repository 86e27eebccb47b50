# VideomatteHQ plugin path setup. Runs in GUI, terminal and farm sessions alike: no UI here (see menu.py).
# Install: one line in ~/.nuke/init.py, nuke.pluginAddPath("/path/to/videomatte-hq/nuke_plugin"), which also
# puts this folder (videomatte_nuke) on sys.path.
import os

import nuke

HERE = os.path.dirname(os.path.abspath(__file__))
nuke.pluginAddPath(os.path.join(HERE, "gizmos"))
# The engine-protocol client: installed in Nuke's Python (pip install host_client/), or a copy beside this
# file, or the repository's host_client/ (pluginAddPath puts it on sys.path; nothing else edits sys.path).
try:
    import videomatte_client  # noqa: F401
except ImportError:
    for path in (os.path.join(HERE, "host_client"), os.path.join(os.path.dirname(HERE), "host_client")):
        if os.path.isdir(os.path.join(path, "videomatte_client")):
            nuke.pluginAddPath(path)
            break
