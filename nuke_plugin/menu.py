# VideomatteHQ toolbar entry (GUI sessions only).
import nuke

nuke.menu("Nodes").addMenu("Videomatte").addCommand("VideomatteHQ", "nuke.createNode('VideomatteHQ')")
