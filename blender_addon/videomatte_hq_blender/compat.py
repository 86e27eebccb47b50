"""The compositor API differences between Blender 5.x and 4.2 LTS, in one place.

5.x: the scene's tree is `scene.compositing_node_group`, node options are input sockets, File Output items
are `file_output_items` under `directory`. 4.2: `scene.node_tree` (+ `use_nodes`), node properties,
`file_slots` under `base_path`. The 4.2 branches follow its API reference; only 5.0.1 is tested here.
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
