# VideomatteHQ plugin path setup. Runs in GUI, terminal and farm sessions alike: no UI here (see menu.py).
import os
import sys

import nuke

HERE = os.path.dirname(os.path.abspath(__file__))
nuke.pluginAddPath(os.path.join(HERE, "gizmos"))
# The pure-Python package and the engine-protocol client (a copy next to it, or the repository layout).
for path in (HERE, os.path.join(HERE, "host_client"), os.path.join(os.path.dirname(HERE), "host_client")):
    if os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
