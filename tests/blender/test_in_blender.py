"""The add-on inside real Blender: compositor setup, Mask rasterising, the operator's engine run, result wiring,
a headless compositor render checked against the engine's files."""

import json
import re
from pathlib import Path

import bpy
import numpy as np
import pytest


def pixels(path: Path) -> np.ndarray:
    """(H, W, 4) float, top row first, as Blender sees the file (colour-managed to linear for sRGB PNGs)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    w, h = image.size
    data = np.array(image.pixels[:], dtype=np.float32).reshape(h, w, 4)[::-1]
    bpy.data.images.remove(image)
    return data


def rectangle_mask(x0, x1, y0, y1):
    """A Mask datablock with one filled rectangle (normalised coordinates, y up)."""
    mask = bpy.data.masks.new("anchor")
    spline = mask.layers.new(name="subject").splines.new()
    spline.points.add(3)
    for point, co in zip(spline.points, ((x0, y0), (x1, y0), (x1, y1), (x0, y1))):
        point.co = point.handle_left = point.handle_right = co
        point.handle_left_type = point.handle_right_type = "VECTOR"
    spline.use_cyclic = spline.use_fill = True
    return mask


def expected_rectangle(x0, x1, y0, y1, width, height):
    """Mask space is square, normalised to the larger side and centred (W >= H): pixel centres inside."""
    xs = (np.arange(width) + 0.5) / width
    ys = ((height - np.arange(height) - 0.5) - height / 2) / width + 0.5  # row 0 is the top
    return (xs[None, :] >= x0) & (xs[None, :] <= x1) & (ys[:, None] >= y0) & (ys[:, None] <= y1)


def build_comp(shot: Path):
    """Scene frames 1-6 show plate files 1001-1006 (frame_offset 1000), the Videomatte node fed by it."""
    image = bpy.data.images.load(str(shot / "plate" / "plate.1001.png"), check_existing=False)
    image.source = "SEQUENCE"
    return comp_over(image, 1000)


def comp_over(image, frame_offset: int):
    """Scene frames 1-6 show the image's first six frames (after `frame_offset`) into a Videomatte node set to
    the weight-free backends."""
    from videomatte_hq_blender.compat import compositor_tree

    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 6
    tree = compositor_tree(scene)
    plate = tree.nodes.new("CompositorNodeImage")
    plate.image = image
    plate.frame_start, plate.frame_duration, plate.frame_offset = 1, 6, frame_offset
    assert bpy.ops.vmhq.add_node() == {"FINISHED"}
    node = tree.nodes.active
    tree.links.new(plate.outputs["Image"], node.inputs["Image"])
    node.node_tree.vmhq.segment_backend, node.node_tree.vmhq.refine_backend = "flow", "closed_form"  # no weights
    return scene, tree, node


def render_matte(scene, tree, node, folder: Path) -> np.ndarray:
    """Scene frame 3 of the node's Matte output, rendered headless through a File Output node (float EXR)."""
    from videomatte_hq_blender.compat import file_output_socket

    out = tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(out.format, "media_type"):
        out.format.media_type = "IMAGE"
    out.format.file_format, out.format.color_depth, out.format.color_mode = "OPEN_EXR", "32", "RGBA"
    tree.links.new(node.outputs["Matte"], file_output_socket(out, str(folder), "matte.####", "RGBA"))
    scene.render.use_compositing = True
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 80, 48, 100
    scene.frame_start = scene.frame_end = 3
    bpy.ops.render.render(animation=True)
    return pixels(folder / "matte.0003.exr")


def test_mask_rasterises_at_plate_size(addon, tmp_path):
    from videomatte_hq_blender.anchor import rasterise_mask

    mask = rectangle_mask(0.25, 0.6, 0.35, 0.65)
    path = rasterise_mask(mask, 4, 80, 48, str(tmp_path))
    assert path.endswith("anchor.0004.png")
    got = pixels(Path(path))[..., 0] > 0.5
    want = expected_rectangle(0.25, 0.6, 0.35, 0.65, 80, 48)
    assert got.shape == (48, 80)
    edge = np.abs(np.diff(want.astype(int), axis=0, prepend=0)).astype(bool) | \
        np.abs(np.diff(want.astype(int), axis=1, prepend=0)).astype(bool)
    assert (got == want)[~edge].all() and (got != want).sum() <= edge.sum()
    assert "VMHQ anchor" not in bpy.data.scenes, "the temporary scene is removed"


def test_run_matte_wires_results_and_renders_plate_times_alpha(addon, shot, tmp_path):
    scene, tree, node = build_comp(shot)
    settings = node.node_tree.vmhq
    settings.anchor_source, settings.anchor_mask = "MASK", rectangle_mask(0.2, 0.75, 0.25, 0.85)
    settings.anchor_frame, settings.output_dir, settings.device = 3, str(tmp_path / "vm"), "cpu"
    settings.alpha_format = "exr16"

    assert bpy.ops.vmhq.run_matte(node_name=node.name) == {"FINISHED"}, settings.status
    assert settings.status == "done: frames 1001-1006" and settings.progress == 1.0
    summary = (tmp_path / "vm" / "run_summary.json").read_text()
    assert '"frame": 1003' in summary, "scene frame 3 is plate file 1003"
    alpha_node = node.node_tree.nodes["VMHQ Alpha"]
    assert Path(bpy.path.abspath(alpha_node.image.filepath)).name == "001001.exr"
    assert (alpha_node.frame_start, alpha_node.frame_duration, alpha_node.frame_offset) == (1, 6, 1000)

    rendered = render_matte(scene, tree, node, tmp_path / "render")
    srgb = pixels(shot / "plate" / "plate.1003.png")[..., :3]  # Image.pixels of a byte PNG: sRGB values
    plate = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)  # the comp works linear
    alpha = pixels(tmp_path / "vm" / "alpha" / "001003.exr")[..., 3]
    assert 0.05 < alpha.mean() < 0.95 and np.unique(alpha).size > 10
    np.testing.assert_allclose(rendered[..., 3], alpha, atol=1e-3)
    # Set Alpha (Replace) keeps the plate's colour straight; the comp is plate x alpha once premultiplied.
    np.testing.assert_allclose(rendered[..., :3], plate, atol=2e-3)
    np.testing.assert_allclose(rendered[..., :3] * rendered[..., 3:], plate * alpha[..., None], atol=2e-3)


def test_phone_clip_is_matted_as_blender_shows_it(addon, shot, tmp_path):
    """A movie flagged to play turned (a phone clip): Blender 4.4+ shows it turned, older versions as stored; the
    engine reads it as this Blender shows it, so the Mask's anchor fits and the alphas have the picture's size."""
    image = bpy.data.images.load(str(shot / "phone.mp4"), check_existing=False)
    assert image.source == "MOVIE"
    width, height = image.size
    assert (width, height) == ((48, 80) if bpy.app.version >= (4, 4, 0) else (80, 48))
    _, _, node = comp_over(image, 0)
    settings = node.node_tree.vmhq
    settings.anchor_source, settings.anchor_mask = "MASK", rectangle_mask(0.35, 0.65, 0.35, 0.65)
    settings.anchor_frame, settings.output_dir, settings.device = 1, str(tmp_path / "vm"), "cpu"
    assert bpy.ops.vmhq.run_matte(node_name=node.name) == {"FINISHED"}, settings.status
    assert settings.status == "done: frames 0-5"
    assert pixels(tmp_path / "vm" / "alpha" / "000005.png").shape[:2] == (height, width)


def test_errors_are_reported_not_raised(addon, shot, tmp_path):
    _, tree, node = build_comp(shot)
    tree.links.remove(node.inputs["Image"].links[0])
    settings = node.node_tree.vmhq
    settings.output_dir = str(tmp_path / "vm")
    with pytest.raises(RuntimeError, match="connect an Image node with the plate"):  # ERROR reports raise here
        bpy.ops.vmhq.run_matte(node_name=node.name)

    _, tree, node = build_comp(shot)
    settings = node.node_tree.vmhq
    with pytest.raises(RuntimeError, match="relative to the .blend file: save the file first"):
        bpy.ops.vmhq.run_matte(node_name=node.name)  # default //videomatte/<node>/ in an unsaved file
    settings.anchor_source, settings.anchor_file = "FILE", str(shot / "missing.png")
    settings.output_dir = str(tmp_path / "vm2")
    with pytest.raises(RuntimeError, match="anchor mask not found.*\n.*Fix: check --anchor-mask"):
        bpy.ops.vmhq.run_matte(node_name=node.name)
    assert settings.status.startswith("error: anchor mask not found")


def test_backends_png_alpha_extra_anchors_from_mask_keys_and_plate_named_folder(addon, shot, tmp_path):
    """The engine's defaults can be changed from the node; Mask keyframes become extra anchors; with no Output
    folder the run goes to <output root>/<plate name>/; a PNG alpha drives the Alpha output."""
    scene, tree, node = build_comp(shot)
    assert node.name.startswith("Videomatte")
    settings = node.node_tree.vmhq
    defaults = {name: settings.bl_rna.properties[name].default
                for name in ("segment_backend", "refine_backend", "alpha_format")}
    assert defaults == {"segment_backend": "sam2", "refine_backend": "mematte", "alpha_format": "png16"}
    mask = rectangle_mask(0.2, 0.75, 0.25, 0.85)
    for frame in (3, 5):  # keyframes on the Mask (its shape keys are not in Blender's Python API)
        mask.layers[0].keyframe_insert("alpha", frame=frame)
    settings.anchor_source, settings.anchor_mask, settings.anchor_frame, settings.device = "MASK", mask, 3, "cpu"
    addon.props.preferences(bpy.context).output_root = str(tmp_path / "mattes")
    assert bpy.ops.vmhq.run_matte(node_name=node.name) == {"FINISHED"}, settings.status
    out = tmp_path / "mattes" / "plate"
    summary = json.loads((out / "run_summary.json").read_text())
    assert sorted(summary["anchor"]["files"]) == ["1003", "1005"], "the keyframe at scene frame 5 is an extra anchor"
    assert summary["backends"]["segment"]["name"] == "flow" and node.label == "Videomatte plate"
    alpha_node = node.node_tree.nodes["VMHQ Alpha"]
    assert Path(bpy.path.abspath(alpha_node.image.filepath)).name == "001001.png"
    assert node.node_tree.nodes["Group Output"].inputs["Alpha"].links[0].from_socket.name == "Image"
    settings.extra_anchor_frames = "4 x"
    with pytest.raises(RuntimeError, match="'x' is not a frame number"):
        bpy.ops.vmhq.run_matte(node_name=node.name, resume=True)


def test_export_farm_job_writes_the_engines_openjd_bundle(addon, shot, tmp_path):
    scene, tree, node = build_comp(shot)
    settings = node.node_tree.vmhq
    settings.anchor_source, settings.anchor_mask, settings.anchor_frame = "MASK", rectangle_mask(0.2, 0.75, 0.25, 0.85), 1
    settings.output_dir, settings.chunk_size = str(tmp_path / "out"), 4
    assert bpy.ops.vmhq.export_farm(node_name=node.name) == {"FINISHED"}, settings.status
    path = tmp_path / "out" / "farm" / "openjd" / "template.yaml"
    assert settings.status == f"farm job: {path}"
    text = path.read_text()  # (Blender's Python has no YAML parser; the engine's tests parse the bundle)
    assert [line.split(": ")[1] for line in text.splitlines() if line.startswith("- name: ")][-3:] == [
        "Segment", "Refine", "Finalize"]
    ranges = [[int(n) for n in re.findall(r"- (\d+)", block)] for block in re.findall(r"range:\n((?:\s+- \d+\n)+)", text)]
    assert ranges == [[1001, 1005], [1004, 1006]]
    values = (path.parent / "parameter_values.yaml").read_text()
    assert f"value: {shot / 'plate'}\n" in values and f"value: {tmp_path / 'out' / 'anchor'}" in values


def test_layered_exr_drives_the_outputs_in_the_plates_colour(addon, shot, tmp_path):
    """Foreground colour + layered EXR: the plate's colour space and Blender's OCIO config reach the engine, the
    Matte output is the EXR's premultiplied foreground, Trimap and Foreground come from its layers."""
    scene, tree, node = build_comp(shot)
    settings = node.node_tree.vmhq
    settings.anchor_source, settings.anchor_mask = "MASK", rectangle_mask(0.2, 0.75, 0.25, 0.85)
    settings.anchor_frame, settings.output_dir, settings.device = 3, str(tmp_path / "vm"), "cpu"
    settings.alpha_format, settings.foreground, settings.matte_exr = "exr16", True, True
    assert bpy.ops.vmhq.run_matte(node_name=node.name) == {"FINISHED"}, settings.status
    colour = json.loads((tmp_path / "vm" / "run_summary.json").read_text())["colour"]
    assert colour["input_space"] == "sRGB" and colour["ocio_config"].endswith("config.ocio")
    assert colour["foreground_space"] == "Linear Rec.709"  # the scene_linear role of Blender's config
    group = node.node_tree
    passes = {o.name for o in group.nodes["VMHQ Matte EXR"].outputs}
    assert {"Alpha", "trimap", "foreground"} <= passes, passes
    wired = {s.name: s.links[0].from_socket.name for s in group.nodes["Group Output"].inputs if s.links}
    assert wired["Trimap"] == "trimap" and wired["Foreground"] == "foreground" and wired["Alpha"] == "Alpha"
    assert wired["Matte"] in ("Combined", "Image")

    rendered = render_matte(scene, tree, node, tmp_path / "render")
    alpha = pixels(tmp_path / "vm" / "alpha" / "001003.exr")[..., 3]
    foreground = pixels(tmp_path / "vm" / "foreground" / "001003.exr")[..., :3]
    assert 0.05 < alpha.mean() < 0.95
    np.testing.assert_allclose(rendered[..., 3], alpha, atol=1e-3)
    # The Matte output carries the EXR's premultiplied colour (Blender's own convention: Alpha Over as it is).
    np.testing.assert_allclose(rendered[..., :3], foreground * alpha[..., None], atol=2e-3)
    assert np.abs(rendered[..., :3] - foreground)[(alpha > 0.05) & (alpha < 0.95)].max() > 0.01  # not straight
