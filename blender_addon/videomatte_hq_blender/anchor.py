"""The anchor from a Blender Mask datablock: rasterised by the compositor at the anchor frame, in a throw-away
scene so the user's comp and render settings are never touched."""

import os

import bpy

from .compat import compositor_tree, file_output_socket, remove_compositor, set_option


def rasterise_mask(mask, scene_frame: int, width: int, height: int, folder: str) -> str:
    """Write `mask` at `scene_frame` as a 16-bit grey PNG of the plate's size; returns its path."""
    os.makedirs(folder, exist_ok=True)
    scene = bpy.data.scenes.new("VMHQ anchor")
    tree = compositor_tree(scene)
    try:
        node = tree.nodes.new("CompositorNodeMask")
        node.mask = mask
        set_option(node, "Size Source", "Fixed")  # plate size, whatever the scene resolution is
        set_option(node, "Size X", width)
        set_option(node, "Size Y", height)
        out = tree.nodes.new("CompositorNodeOutputFile")
        if hasattr(out.format, "media_type"):
            out.format.media_type = "IMAGE"
        out.format.file_format, out.format.color_mode, out.format.color_depth = "PNG", "BW", "16"
        # A FLOAT item is stored raw (no view transform).
        tree.links.new(node.outputs["Mask"], file_output_socket(out, folder, "anchor.####", "FLOAT"))
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        scene.render.use_compositing = True
        scene.frame_start = scene.frame_end = scene_frame
        bpy.ops.render.render(animation=True, scene=scene.name)  # a still would use the window scene's frame
    finally:
        remove_compositor(scene)
    path = os.path.join(folder, f"anchor.{scene_frame:04d}.png")
    if not os.path.isfile(path):  # the File Output node fails silently
        raise ValueError(f"rasterising mask '{mask.name}' at frame {scene_frame} wrote nothing ({path})")
    return path
