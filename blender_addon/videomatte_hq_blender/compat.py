"""The compositor API differences between Blender 5.x and 4.2 LTS, in one place.

5.x: the scene's tree is `scene.compositing_node_group`, node options are input sockets, File Output items
are `file_output_items` under `directory`. 4.2: `scene.node_tree` (+ `use_nodes`, embedded in the scene),
node properties, `file_slots` under `base_path`. Tested in bpy 4.2.23, 4.5.15 and 5.0.1.
"""

import os

import bpy

OPTION_PROPERTIES = {"Type": ("mode", {"Replace Alpha": "REPLACE_ALPHA", "Apply Mask": "APPLY"}),
                     "Size Source": ("size_source", {"Fixed": "FIXED"}), "Size X": ("size_x", {}),
                     "Size Y": ("size_y", {})}


def compositor_tree(scene, create: bool = True):
    """The scene's compositor node tree (created when missing and `create`)."""
    if hasattr(scene, "compositing_node_group"):
        if scene.compositing_node_group is None and create:
            scene.compositing_node_group = bpy.data.node_groups.new(f"{scene.name} Compositor", "CompositorNodeTree")
        return scene.compositing_node_group
    scene.use_nodes = True
    return scene.node_tree


def keyframed_frames(datablock) -> list[int]:
    """Frames with a keyframe on any of the datablock's animated properties: layered actions (4.4+, the only
    kind in 5.x: layers -> strips -> channelbags) or the 4.2 action's own fcurves."""
    action = datablock.animation_data.action if datablock.animation_data else None
    if action is None:
        return []
    if getattr(action, "layers", None):
        fcurves = [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                   for fc in bag.fcurves]
    else:
        fcurves = list(getattr(action, "fcurves", ()))
    return sorted({round(key.co[0]) for fc in fcurves for key in fc.keyframe_points})


def remove_compositor(scene) -> None:
    """Delete a throw-away scene and its compositor tree (5.x: a node group of its own; 4.2: embedded in the
    scene, removed with it)."""
    tree = getattr(scene, "compositing_node_group", None)
    if tree is not None:
        bpy.data.node_groups.remove(tree)
    bpy.data.scenes.remove(scene)


def set_option(node, name: str, value) -> None:
    """A node option: an input socket in 5.x, a property in 4.2."""
    if name in node.inputs:
        node.inputs[name].default_value = value
        return
    prop, values = OPTION_PROPERTIES[name]
    setattr(node, prop, values.get(value, value))


def file_output_socket(node, folder: str, name: str, kind: str):
    """Point a File Output node at `folder` and add an item named `name` (`####` = frame); returns its socket."""
    if hasattr(node, "file_output_items"):
        node.directory, node.file_name = folder + os.sep, ""
        return node.inputs[node.file_output_items.new(kind, name).name]
    node.base_path = folder + os.sep
    node.file_slots.new(name)
    return node.inputs[name]
