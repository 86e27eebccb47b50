"""The compositor side: the Videomatte node group, the plate it is fed, the result passes."""

import os

import bpy
from videomatte_client import sequence_path

from .compat import set_option
from .frames import ImageTiming, result_timing

ALPHA_NODE, TRIMAP_NODE, MATTE_NODE = "VMHQ Alpha", "VMHQ Trimap", "VMHQ Matte EXR"
OUTPUTS = (("Matte", "NodeSocketColor"), ("Alpha", "NodeSocketFloat"), ("Trimap", "NodeSocketFloat"),
           ("Foreground", "NodeSocketColor"))


def new_videomatte_group(name: str = "Videomatte HQ"):
    """A node group: Image in; Matte (plate with the alpha, or the layered EXR's premultiplied foreground),
    Alpha, Trimap, Foreground out. Run wires the outputs to what the engine wrote."""
    group = bpy.data.node_groups.new(name, "CompositorNodeTree")
    group.vmhq.is_videomatte = True
    group.interface.new_socket(name="Image", in_out="INPUT", socket_type="NodeSocketColor")
    for name_, kind in OUTPUTS:
        group.interface.new_socket(name=name_, in_out="OUTPUT", socket_type=kind)
    nodes = group.nodes
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    images = [nodes.new("CompositorNodeImage") for _ in range(3)]
    for image, label in zip(images, (ALPHA_NODE, TRIMAP_NODE, MATTE_NODE)):
        image.name = image.label = label
    set_alpha = nodes.new("CompositorNodeSetAlpha")
    set_option(set_alpha, "Type", "Replace Alpha")
    group.links.new(gin.outputs["Image"], set_alpha.inputs["Image"])
    _wire(group, exr_alpha=True, layered=False)
    for node, (x, y) in zip((gin, *images, set_alpha, gout),
                            ((-400, 0), (-400, -130), (-400, -280), (-400, -430), (0, 0), (300, 0))):
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


def plate_colour(image) -> tuple[str | None, str | None]:
    """(colour space, OCIO config) of the plate as Blender reads it: its own colour space name in the config
    Blender uses ($OCIO, else its bundled one). None, None for data (Non-Color): the engine's default then."""
    settings = image.colorspace_settings
    if not settings.name or settings.is_data:
        return None, None
    bundled = os.path.join(bpy.utils.resource_path("LOCAL"), "datafiles", "colormanagement", "config.ocio")
    return settings.name, os.environ.get("OCIO") or bundled


def _load_sequence(image_node, path: str, timing: ImageTiming, data: bool = True) -> None:
    image = bpy.data.images.load(path, check_existing=False)
    image.source = "SEQUENCE"
    if data:
        image.colorspace_settings.name = "Non-Color"  # mattes are data
    old = image_node.image
    image_node.image = image
    image_node.frame_start, image_node.frame_duration = timing.frame_start, timing.frame_duration
    image_node.frame_offset = timing.frame_offset
    if old is not None and old.users == 0:
        bpy.data.images.remove(old)


def _wire(group, exr_alpha: bool, layered: bool) -> None:
    """The group's outputs from the files of the last run. Layered: the matte EXR's passes (Combined =
    premultiplied foreground + alpha, trimap, foreground). Else the plate with the matte set as its alpha; the
    matte is the EXR's `A` channel (Blender loads it as alpha) or a grey PNG's value; the trimap a grey PNG."""
    nodes, links = group.nodes, group.links
    gout = next(n for n in nodes if n.bl_idname == "NodeGroupOutput")
    set_alpha = next(n for n in nodes if n.bl_idname == "CompositorNodeSetAlpha")
    if layered:
        passes = nodes[MATTE_NODE].outputs
        sources = {"Matte": passes.get("Combined") or passes["Image"], "Alpha": passes["Alpha"],
                   "Trimap": passes["trimap"], "Foreground": passes.get("foreground")}
    else:
        alpha = nodes[ALPHA_NODE].outputs["Alpha" if exr_alpha else "Image"]
        links.new(alpha, set_alpha.inputs["Alpha"])
        sources = {"Matte": set_alpha.outputs["Image"], "Alpha": alpha,
                   "Trimap": nodes[TRIMAP_NODE].outputs["Image"], "Foreground": None}
    for name, socket in sources.items():
        for link in list(gout.inputs[name].links):
            links.remove(link)
        if socket is not None:
            links.new(socket, gout.inputs[name])


def show_results(node, plate: ImageTiming, layout: dict, frame_range: tuple[int, int]) -> None:
    """Point the group's Image nodes at the engine's sequences (the output layout of its run_start event), in
    sync with the plate: the layered matte EXR when the run wrote one, else the alpha and trimap files."""
    first, last = frame_range
    timing = result_timing(plate, first, last)
    layered = bool(layout.get("matte_pattern"))
    paths = {MATTE_NODE: layout["matte_pattern"]} if layered else {
        ALPHA_NODE: layout["alpha_pattern"], TRIMAP_NODE: layout["trimap_pattern"]}
    for name, pattern in paths.items():
        first_file = sequence_path(pattern, first)
        if not all(os.path.isfile(sequence_path(pattern, f)) for f in range(first, last + 1)):
            raise ValueError(f"the engine reported success but files of {pattern} are missing")
        # The layered EXR is colour (in the compositor's working space, as asked of the engine) plus data passes.
        _load_sequence(node.node_tree.nodes[name], first_file, timing, data=not layered)
    _wire(node.node_tree, layout["alpha_pattern"].lower().endswith(".exr"), layered)
