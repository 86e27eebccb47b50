"""Regenerate docs/blender_nodes.svg (the node setup, drawn from the real node trees) and docs/blender_matte.png
(the node's Matte output over a grey/checker backdrop), inside Blender (`bpy`):

    .venv-blender/bin/python blender_addon/docs_image.py "/path/.venv/bin/python -m videomatte_hq"

Uses the generated example shot (made by the engine's `make-example`), the add-on from this folder, the
weight-free backends, Foreground colour and the layered EXR.
"""

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import bpy  # noqa: I001 - bpy first: it puts addon_utils on the path
import addon_utils
import numpy as np

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
ROW, HEAD = 22, 30


def node_box(node) -> tuple[float, float, float, float]:
    sockets = [s for s in node.outputs if s.enabled and s.name] + [s for s in node.inputs if s.enabled and s.name]
    return node.location.x, -node.location.y, node.width, HEAD + ROW * len(sockets) + 8


def socket_pos(node, socket, output: bool) -> tuple[float, float]:
    x, y, w, _ = node_box(node)
    outs = [s for s in node.outputs if s.enabled and s.name]
    ins = [s for s in node.inputs if s.enabled and s.name]
    index = outs.index(socket) if output else len(outs) + ins.index(socket)
    return x + (w if output else 0), y + HEAD + ROW * index + ROW / 2


def svg_tree(tree, title: str, dx: float, dy: float) -> list[str]:
    parts = [f'<text x="{dx}" y="{dy - 20}" font-size="16" font-weight="bold">{escape(title)}</text>']
    shift = lambda x, y: (x + dx - min(n.location.x for n in tree.nodes), y + dy + max(n.location.y for n in tree.nodes))
    for link in tree.links:
        x0, y0 = shift(*socket_pos(link.from_node, link.from_socket, True))
        x1, y1 = shift(*socket_pos(link.to_node, link.to_socket, False))
        parts.append(f'<path d="M{x0},{y0} C{x0 + 60},{y0} {x1 - 60},{y1} {x1},{y1}" stroke="#555" fill="none" '
                     'stroke-width="2"/>')
    for node in tree.nodes:
        x, y, w, h = node_box(node)
        x, y = shift(x, y)
        label = node.label or node.name
        parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="#3c3c3c" stroke="#222"/>'
                     f'<rect x="{x}" y="{y}" width="{w}" height="{HEAD - 6}" rx="6" fill="#4a6b8a"/>'
                     f'<text x="{x + 8}" y="{y + 17}" fill="white" font-size="13">{escape(label)}</text>')
        outs = [s for s in node.outputs if s.enabled and s.name]
        ins = [s for s in node.inputs if s.enabled and s.name]
        for i, socket in enumerate(outs + ins):
            sy = y + HEAD + ROW * i + ROW / 2
            anchor, sx = ("end", x + w - 10) if i < len(outs) else ("start", x + 10)
            parts.append(f'<text x="{sx}" y="{sy + 4}" fill="#ddd" font-size="12" text-anchor="{anchor}">'
                         f'{escape(socket.name)}</text><circle cx="{x + (w if i < len(outs) else 0)}" cy="{sy}" '
                         f'r="5" fill="#c9a227"/>')
    return parts


def main(engine: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="vmhq-docs-"))
    python = shlex.split(engine)
    subprocess.run([*python, "make-example", str(tmp / "shot"), "--width", "320", "--height", "180",
                    "--frames", "12", "--format", "png"], check=True)
    sys.path.insert(0, str(HERE))
    addon_utils.enable("videomatte_hq_blender", default_set=True)
    bpy.context.preferences.addons["videomatte_hq_blender"].preferences.engine = engine
    from videomatte_hq_blender.compat import compositor_tree

    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 12
    tree = compositor_tree(scene)
    image = bpy.data.images.load(str(tmp / "shot" / "plate" / "plate.1001.png"))
    image.source = "SEQUENCE"
    plate = tree.nodes.new("CompositorNodeImage")
    plate.image, plate.label, plate.location = image, "Plate (plate.####.png)", (-350, 0)
    plate.frame_start, plate.frame_duration, plate.frame_offset = 1, 12, 1000
    bpy.ops.vmhq.add_node()
    node = tree.nodes.active
    node.location = (0, 0)
    tree.links.new(plate.outputs["Image"], node.inputs["Image"])
    settings = node.node_tree.vmhq
    settings.anchor_source, settings.anchor_file = "FILE", str(tmp / "shot" / "anchor.png")
    settings.anchor_frame, settings.output_dir = 1, str(tmp / "vm")
    settings.segment_backend, settings.refine_backend = "flow", "closed_form"  # no model files needed
    settings.foreground = settings.matte_exr = True
    assert bpy.ops.vmhq.run_matte(node_name=node.name) == {"FINISHED"}
    out = tree.nodes.new("CompositorNodeOutputFile")
    out.label, out.location = "File Output (matte.####.exr)", (350, 0)
    out.directory, out.file_name = str(tmp / "render") + os.sep, ""
    out.format.media_type = "IMAGE"
    out.format.file_format, out.format.color_mode = "OPEN_EXR", "RGBA"
    item = out.file_output_items.new("RGBA", "matte.####")
    tree.links.new(node.outputs["Matte"], out.inputs[item.name])
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 320, 180, 100
    scene.render.use_compositing = True
    scene.frame_start = scene.frame_end = 6
    bpy.ops.render.render(animation=True)

    svg = svg_tree(tree, "Compositor", 20, 60) + svg_tree(node.node_tree, "Inside the Videomatte HQ group", 20, 330)
    DOCS.mkdir(exist_ok=True)
    (DOCS / "blender_nodes.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="1000" height="920" font-family="sans-serif">'
        '<rect width="100%" height="100%" fill="#2b2b2b"/><g fill="#eee">' + "".join(svg) + "</g></svg>\n")

    render = bpy.data.images.load(str(tmp / "render" / "matte.0006.exr"))
    rgba = np.array(render.pixels[:], np.float32).reshape(180, 320, 4)
    ys, xs = np.mgrid[0:180, 0:320]
    checker = np.where(((ys // 16 + xs // 16) % 2)[..., None] == 0, 0.35, 0.55)
    comp = rgba[..., :3] + checker * (1 - rgba[..., 3:])  # the layered EXR's Matte is premultiplied: over
    shown = bpy.data.images.new("matte", 320, 180, alpha=False, float_buffer=True)
    shown.pixels[:] = np.dstack([comp, np.ones((180, 320, 1))]).ravel()
    shown.filepath_raw, shown.file_format = str(DOCS / "blender_matte.png"), "PNG"
    shown.save()
    print(f"wrote {DOCS / 'blender_nodes.svg'} and {DOCS / 'blender_matte.png'}")


if __name__ == "__main__":
    main(sys.argv[1])
