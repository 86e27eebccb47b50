"""Per-node settings (on the node group datablock, one per Videomatte node) and add-on preferences."""

import bpy

BANDS = [(b, b.capitalize(), "") for b in ("narrow", "default", "wider", "maximum")]
DEVICES = [("auto", "Auto", ""), ("cpu", "CPU", ""), ("cuda", "CUDA", "")]
PRECISIONS = [(p, p, "") for p in ("auto", "fp32", "fp16", "bf16")]
# The engine's names and defaults (README "Command line"); the weight-free ones need no model files.
SEGMENT_BACKENDS = [("sam2", "SAM2", "Ultralytics SAM2 (needs sam2_l.pt)"),
                    ("flow", "Flow (weight-free)", "Optical flow + GrabCut, no model file"),
                    ("ultralytics_sam3", "SAM3", "Ultralytics SAM3 (needs sam3.pt and timm)")]
REFINE_BACKENDS = [("mematte", "MEMatte", "MEMatte ViT-S (needs MEMatte_ViTS_DIM.pth)"),
                   ("closed_form", "Closed-form (weight-free)", "Closed-form matting, no model file")]
ALPHA_FORMATS = [(f, f, d) for f, d in (("png16", "16-bit PNG"), ("png8", "8-bit PNG"),
                                        ("exr16", "half-float EXR, channel A"), ("exr32", "float EXR, channel A"))]


class VMHQ_Settings(bpy.types.PropertyGroup):
    is_videomatte: bpy.props.BoolProperty(default=False)
    anchor_source: bpy.props.EnumProperty(items=[("MASK", "Mask", "A Blender Mask, rasterised at the anchor frame"),
                                                 ("FILE", "Image file", "A roto image (white = subject)")])
    anchor_mask: bpy.props.PointerProperty(type=bpy.types.Mask, name="Mask")
    anchor_file: bpy.props.StringProperty(name="Anchor image", subtype="FILE_PATH")
    anchor_frame: bpy.props.IntProperty(name="Anchor frame", description="Scene frame of the anchor", default=1)
    use_scene_range: bpy.props.BoolProperty(name="Scene range", default=True)
    frame_start: bpy.props.IntProperty(name="Start", default=1)
    frame_end: bpy.props.IntProperty(name="End", default=250)
    band: bpy.props.EnumProperty(items=BANDS, default="default", name="Band")
    device: bpy.props.EnumProperty(items=DEVICES, default="auto", name="Device")
    precision: bpy.props.EnumProperty(items=PRECISIONS, default="auto", name="Precision")
    segment_backend: bpy.props.EnumProperty(items=SEGMENT_BACKENDS, default="sam2", name="Segment")
    refine_backend: bpy.props.EnumProperty(items=REFINE_BACKENDS, default="mematte", name="Refine")
    alpha_format: bpy.props.EnumProperty(items=ALPHA_FORMATS, default="png16", name="Alpha files")
    foreground: bpy.props.BoolProperty(
        name="Foreground colour", default=False,
        description="Also estimate the subject's own colour in the soft edge (no old background in hair and "
                    "motion blur): the Foreground output, and a layer of the layered EXR")
    matte_exr: bpy.props.BoolProperty(
        name="Layered EXR", default=False,
        description="Read the results from one layered EXR per frame: Matte = premultiplied foreground (ready for "
                    "Alpha Over), with the Trimap (and Foreground) layers")
    extra_anchor_frames: bpy.props.StringProperty(
        name="Extra anchors", description="Scene frames where the Mask is rasterised again as an extra anchor "
                                          "(e.g. after an occlusion): '40 80'")
    use_mask_keyframes: bpy.props.BoolProperty(
        name="Mask keyframes", default=True,
        description="Every keyframed frame of the Mask (in the range) is an extra anchor too")
    output_dir: bpy.props.StringProperty(name="Output", subtype="DIR_PATH",
                                         description="Default: <output root>/<plate name>/ (//videomatte/...)")
    chunk_size: bpy.props.IntProperty(name="Frames per chunk", default=10, min=1,
                                      description="Frames per Refine task of the farm job")
    status: bpy.props.StringProperty(default="idle")
    progress: bpy.props.FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    running: bpy.props.BoolProperty(default=False)


class VMHQ_Preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine: bpy.props.StringProperty(
        name="Engine", default="videomatte-hq",
        description="videomatte-hq executable, or 'python -m videomatte_hq' of a Python with the package "
                    "(never Blender's own Python)")
    device: bpy.props.EnumProperty(items=DEVICES, default="auto", name="Default device")
    output_root: bpy.props.StringProperty(name="Default output root", default="//videomatte", subtype="DIR_PATH")

    def draw(self, context):
        for name in ("engine", "device", "output_root"):
            self.layout.prop(self, name)


def preferences(context):
    return context.preferences.addons[__package__].preferences


CLASSES = (VMHQ_Settings, VMHQ_Preferences)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.NodeTree.vmhq = bpy.props.PointerProperty(type=VMHQ_Settings)


def unregister() -> None:
    del bpy.types.NodeTree.vmhq
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
