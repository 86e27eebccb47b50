"""The compositor side: the Videomatte node group, the plate it is fed, the result passes."""

import os

import bpy
from videomatte_client import sequence_path

from .compat import set_option
from .frames import ImageTiming, result_timing

ALPHA_NODE, TRIMAP_NODE = "VMHQ Alpha", "VMHQ Trimap"


def new_videomatte_group(name: str = "Videomatte HQ"):
    """A node group: Image in; Matte (plate with the alpha), Alpha, Trimap out."""
    group = bpy.data.node_groups.new(name, "CompositorNodeTree")
    group.vmhq.is_videomatte = True
    group.interface.new_socket(name="Image", in_out="INPUT", socket_type="NodeSocketColor")
    for name_, kind in (("Matte", "NodeSocketColor"), ("Alpha", "NodeSocketFloat"), ("Trimap", "NodeSocketFloat")):
        group.interface.new_socket(name=name_, in_out="OUTPUT", socket_type=kind)
    nodes, links = group.nodes, group.links
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    alpha, trimap = nodes.new("CompositorNodeImage"), nodes.new("CompositorNodeImage")
    alpha.name = alpha.label = ALPHA_NODE
    trimap.name = trimap.label = TRIMAP_NODE
    set_alpha = nodes.new("CompositorNodeSetAlpha")
    set_option(set_alpha, "Type", "Replace Alpha")
    links.new(gin.outputs["Image"], set_alpha.inputs["Image"])
    links.new(alpha.outputs["Alpha"], set_alpha.inputs["Alpha"])  # a single-channel `A` EXR loads as alpha
    links.new(set_alpha.outputs["Image"], gout.inputs["Matte"])
    links.new(alpha.outputs["Alpha"], gout.inputs["Alpha"])
    links.new(trimap.outputs["Image"], gout.inputs["Trimap"])
    for node, x, y in ((gin, -400, 0), (alpha, -400, -130), (trimap, -400, -280), (set_alpha, 0, 0), (gout, 300, 0)):
        node.location = (x, y)
    return group


def add_videomatte_node(tree, location=(0, 0)):
    node = tree.nodes.new("CompositorNodeGroup")
    node.name = "Videomatte"  # not "Group": Run labels it after the plate
    node.node_tree = new_videomatte_group(f"Videomatte HQ {node.name}")
    node.label = "Videomatte HQ"
    node.location = location
    return node


def plate_node(node):
    """The Image node feeding the Videomatte node, with its file and timing."""
    links = node.inputs["Image"].links
    source = links[0].from_node if links else None
    if source is None or source.bl_idname != "CompositorNodeImage" or source.image is None:
        raise ValueError("connect an Image node with the plate (image sequence or movie) to the Videomatte node")
    image = source.image
    if image.source not in ("SEQUENCE", "MOVIE"):
        raise ValueError(f"the plate image '{image.name}' is a single image; set its source to Image Sequence or "
                         "Movie")
    path = bpy.path.abspath(image.filepath)
    if not os.path.isfile(path):
        raise ValueError(f"plate file not found: {path}")
    timing = ImageTiming(source.frame_start, source.frame_duration, source.frame_offset, image.source == "MOVIE")
    return source, path, timing


def _load_sequence(image_node, path: str, timing: ImageTiming) -> None:
    image = bpy.data.images.load(path, check_existing=False)
    image.source = "SEQUENCE"
    image.colorspace_settings.name = "Non-Color"  # mattes are data
    old = image_node.image
    image_node.image = image
    image_node.frame_start, image_node.frame_duration = timing.frame_start, timing.frame_duration
    image_node.frame_offset = timing.frame_offset
    if old is not None and old.users == 0:
        bpy.data.images.remove(old)


def _wire_alpha(group, exr: bool) -> None:
    """The matte is the EXR's `A` channel (Blender loads it as alpha) or a grey PNG's value."""
    nodes, links = group.nodes, group.links
    socket = nodes[ALPHA_NODE].outputs["Alpha" if exr else "Image"]
    set_alpha = next(n for n in nodes if n.bl_idname == "CompositorNodeSetAlpha")
    gout = next(n for n in nodes if n.bl_idname == "NodeGroupOutput")
    links.new(socket, set_alpha.inputs["Alpha"])
    links.new(socket, gout.inputs["Alpha"])


def show_results(node, plate: ImageTiming, layout: dict, frame_range: tuple[int, int]) -> None:
    """Point the group's Image nodes at the engine's alpha and trimap sequences (the output layout of its
    run_start event), in sync with the plate."""
    first, last = frame_range
    timing = result_timing(plate, first, last)
    paths = {ALPHA_NODE: layout["alpha_pattern"], TRIMAP_NODE: layout["trimap_pattern"]}
    _wire_alpha(node.node_tree, layout["alpha_pattern"].lower().endswith(".exr"))
    for name, pattern in paths.items():
        first_file = sequence_path(pattern, first)
        if not all(os.path.isfile(sequence_path(pattern, f)) for f in range(first, last + 1)):
            raise ValueError(f"the engine reported success but files of {pattern} are missing")
        _load_sequence(node.node_tree.nodes[name], first_file, timing)
