"""Operators, the node panel and the Add-menu entry. `execute()` runs the engine to completion (headless,
farm, tests: background Blender never fires timers); `invoke()` runs it modally with a timer, so the UI stays
live, progress shows in the panel and the status bar, and Esc cancels. Both use videomatte_client.MatteJob."""

import os

import bpy
from videomatte_client import EngineCommand, EngineError, MatteJob, engine_argv, farm_bundle, parse_frames

from .anchor import rasterise_mask
from .compat import compositor_tree, keyframed_frames
from .compositor import add_videomatte_node, plate_colour, plate_node, show_results
from .frames import shot_name
from .props import preferences

JOBS = {}  # node group name -> MatteJob running modally (for Cancel)


def _videomatte_node(context, name: str = ""):
    tree = compositor_tree(context.scene, create=False)
    node = tree.nodes.get(name) if (tree and name) else (tree.nodes.active if tree else None)
    if node is None or getattr(node, "node_tree", None) is None or not node.node_tree.vmhq.is_videomatte:
        raise ValueError("select a Videomatte HQ node in the compositor")
    return node


def output_dir(context, node, plate_path: str) -> str:
    """The node's Output folder, else <output root>/<plate name>/."""
    settings = node.node_tree.vmhq
    root = settings.output_dir or os.path.join(preferences(context).output_root, shot_name(plate_path))
    if root.startswith("//") and not bpy.data.filepath:
        raise ValueError(f"the output folder {root} is relative to the .blend file: save the file first, or set "
                         "an absolute Output folder")
    return os.path.normpath(bpy.path.abspath(root))


def video_rotation(image) -> str | None:
    """Blender turns a movie by its rotation flag (a phone clip) from 4.4 on, as the engine does; before, it shows
    the frames as stored (checked in bpy 4.2, 4.3, 4.4, 4.5 and 5.0), and so must the engine."""
    return "ignore" if image.source == "MOVIE" and bpy.app.version < (4, 4, 0) else None


def build_command(context, node, resume: bool):
    """Everything before the engine starts: plate, range, anchor (rasterised), the command."""
    scene, settings, prefs = context.scene, node.node_tree.vmhq, preferences(context)
    source, plate_path, timing = plate_node(node)
    first, last = timing.engine_range(*((scene.frame_start, scene.frame_end) if settings.use_scene_range
                                        else (settings.frame_start, settings.frame_end)))
    out = output_dir(context, node, plate_path)
    extra_frames = parse_frames(settings.extra_anchor_frames)
    extra = {}
    if settings.anchor_source == "MASK":
        mask = settings.anchor_mask
        if mask is None:
            raise ValueError("pick the anchor Mask (or switch the anchor to an image file)")
        width, height = source.image.size
        anchor = rasterise_mask(mask, settings.anchor_frame, width, height, os.path.join(out, "anchor"))
        if settings.use_mask_keyframes:
            extra_frames = sorted({*extra_frames, *keyframed_frames(mask)})
        for frame in extra_frames:  # the Mask again where the user (or its keyframes) says it is right
            if frame != settings.anchor_frame and first <= timing.engine_frame(frame) <= last:
                extra[timing.engine_frame(frame)] = rasterise_mask(mask, frame, width, height,
                                                                   os.path.join(out, "anchor"))
    else:
        if extra_frames:
            raise ValueError("extra anchors are rasterised from a Mask: switch the anchor to a Mask, or clear "
                             "'Extra anchors'")
        anchor = bpy.path.abspath(settings.anchor_file)
    colorspace, config = plate_colour(source.image)
    command = EngineCommand(engine_argv(prefs.engine), plate_path, out, first, last, anchor_mask=anchor,
                            anchor_frame=timing.engine_frame(settings.anchor_frame), extra_anchors=extra,
                            trimap_band=settings.band, device=settings.device, precision=settings.precision,
                            alpha_format=settings.alpha_format, segment_backend=settings.segment_backend,
                            refine_backend=settings.refine_backend, input_colorspace=colorspace,
                            ocio_config=config, foreground=settings.foreground, matte_exr=settings.matte_exr,
                            # the compositor's working space: what its Image node hands on from a multilayer EXR
                            foreground_colorspace="scene_linear" if colorspace else None,
                            video_rotation=video_rotation(source.image), resume=resume, overwrite=not resume)
    node.label = f"Videomatte {shot_name(plate_path)}"
    return command, timing


def build_job(context, node, resume: bool):
    command, timing = build_command(context, node, resume)
    return MatteJob(command.argv()), timing


def _update(settings, state) -> None:
    settings.progress, settings.status = state.progress, state.message


def _finish(operator, node, job: MatteJob, timing) -> set:
    settings = node.node_tree.vmhq
    settings.running = False
    JOBS.pop(node.node_tree.name, None)
    state = job.state
    if state.error is not None:
        settings.status = f"error: {state.error.message}"
        operator.report({"ERROR"}, f"Videomatte HQ: {state.error}")
        return {"CANCELLED"}
    show_results(node, timing, state.layout, state.frame_range)
    settings.status = f"done: frames {state.frame_range[0]}-{state.frame_range[1]}"
    operator.report({"INFO"}, f"Videomatte HQ: {settings.status}")
    return {"FINISHED"}


class VMHQ_OT_run_matte(bpy.types.Operator):
    bl_idname = "vmhq.run_matte"
    bl_label = "Run Matte"
    bl_description = "Run the videomatte-hq engine on the plate feeding this node"

    node_name: bpy.props.StringProperty(default="")
    resume: bpy.props.BoolProperty(default=False, description="Continue a cancelled or failed run")

    def _start(self, context):
        self.node = _videomatte_node(context, self.node_name)
        if self.node.node_tree.name in JOBS:
            raise ValueError("this node is already running (Cancel first)")
        self.job, self.timing = build_job(context, self.node, self.resume)
        self.job.start()
        self.node.node_tree.vmhq.running = True

    def execute(self, context):
        try:
            self._start(context)
        except (ValueError, EngineError) as exc:
            self.report({"ERROR"}, f"Videomatte HQ: {exc}")
            return {"CANCELLED"}
        self.job.wait(lambda state: _update(self.node.node_tree.vmhq, state))
        return _finish(self, self.node, self.job, self.timing)

    def invoke(self, context, event):
        try:
            self._start(context)
        except (ValueError, EngineError) as exc:
            self.report({"ERROR"}, f"Videomatte HQ: {exc}")
            return {"CANCELLED"}
        JOBS[self.node.node_tree.name] = self.job
        self.timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self.job.cancel()
        if event.type not in ("TIMER", "ESC"):
            return {"PASS_THROUGH"}
        state = self.job.poll()
        _update(self.node.node_tree.vmhq, state)
        for area in context.screen.areas if context.screen else ():
            if area.type == "NODE_EDITOR":
                area.tag_redraw()
        if self.job.returncode is None:
            context.workspace.status_text_set(f"Videomatte HQ: {state.message} ({state.progress:.0%}) - Esc cancels")
            return {"RUNNING_MODAL"}
        context.workspace.status_text_set(None)
        context.window_manager.event_timer_remove(self.timer)
        return _finish(self, self.node, self.job, self.timing)


class VMHQ_OT_cancel_matte(bpy.types.Operator):
    bl_idname = "vmhq.cancel_matte"
    bl_label = "Cancel"
    bl_description = "Stop the engine; what it wrote stays and Resume continues from there"

    def execute(self, context):
        job = JOBS.get(_videomatte_node(context).node_tree.name)
        if job is not None:
            job.cancel()
        return {"FINISHED"}


class VMHQ_OT_export_farm(bpy.types.Operator):
    bl_idname = "vmhq.export_farm"
    bl_label = "Export farm job"
    bl_description = ("Write the shot's OpenJD job bundle (Segment, Refine chunks, Finalize) into <output>/farm/openjd "
                      "for Deadline Cloud (deadline bundle submit) or OpenCue")

    node_name: bpy.props.StringProperty(default="")

    def execute(self, context):
        try:
            node = _videomatte_node(context, self.node_name)
            command, _ = build_command(context, node, resume=False)
            path = farm_bundle(command, os.path.join(command.output_dir, "farm", "openjd"),
                               node.node_tree.vmhq.chunk_size)
        except (ValueError, EngineError) as exc:
            self.report({"ERROR"}, f"Videomatte HQ: {exc}")
            return {"CANCELLED"}
        node.node_tree.vmhq.status = f"farm job: {path}"
        self.report({"INFO"}, f"Videomatte HQ: farm job written to {path} (deadline bundle submit "
                              f"{os.path.dirname(path)})")
        return {"FINISHED"}


class VMHQ_OT_add_node(bpy.types.Operator):
    bl_idname = "vmhq.add_node"
    bl_label = "Videomatte HQ"
    bl_description = "Add a Videomatte HQ node (plate in; Matte, Alpha, Trimap out)"

    def execute(self, context):
        tree = compositor_tree(context.scene)
        node = add_videomatte_node(tree, context.space_data.cursor_location if context.space_data else (0, 0))
        settings = node.node_tree.vmhq
        settings.anchor_frame, settings.device = context.scene.frame_current, preferences(context).device
        for other in tree.nodes:
            other.select = False
        node.select, tree.nodes.active = True, node
        return {"FINISHED"}


class VMHQ_PT_panel(bpy.types.Panel):
    bl_label = "Videomatte HQ"
    bl_space_type, bl_region_type, bl_category = "NODE_EDITOR", "UI", "Videomatte"

    @classmethod
    def poll(cls, context):
        node = context.active_node
        return node is not None and getattr(node, "node_tree", None) is not None and node.node_tree.vmhq.is_videomatte

    def draw(self, context):
        layout, settings = self.layout, context.active_node.node_tree.vmhq
        layout.prop(settings, "anchor_source", expand=True)
        layout.prop(settings, "anchor_mask" if settings.anchor_source == "MASK" else "anchor_file")
        layout.prop(settings, "anchor_frame")
        layout.prop(settings, "use_scene_range")
        if not settings.use_scene_range:
            row = layout.row(align=True)
            row.prop(settings, "frame_start")
            row.prop(settings, "frame_end")
        if settings.anchor_source == "MASK":
            row = layout.row(align=True)
            row.prop(settings, "extra_anchor_frames")
            row.prop(settings, "use_mask_keyframes", text="Keys")
        for name in ("segment_backend", "refine_backend", "band", "device", "precision", "alpha_format",
                     "output_dir"):
            layout.prop(settings, name)
        row = layout.row(align=True)
        row.prop(settings, "foreground")
        row.prop(settings, "matte_exr")
        row = layout.row(align=True)
        row.enabled = not settings.running
        row.operator(VMHQ_OT_run_matte.bl_idname).node_name = context.active_node.name
        resume = row.operator(VMHQ_OT_run_matte.bl_idname, text="Resume")
        resume.node_name, resume.resume = context.active_node.name, True
        if settings.running:
            layout.operator(VMHQ_OT_cancel_matte.bl_idname)
        row = layout.row(align=True)
        row.prop(settings, "chunk_size")
        row.operator(VMHQ_OT_export_farm.bl_idname).node_name = context.active_node.name
        layout.progress(factor=settings.progress, type="BAR", text=settings.status)


def draw_add_menu(self, context):
    if getattr(context.space_data, "tree_type", "") == "CompositorNodeTree":
        self.layout.operator(VMHQ_OT_add_node.bl_idname, icon="NODE_COMPOSITING")


CLASSES = (VMHQ_OT_run_matte, VMHQ_OT_cancel_matte, VMHQ_OT_export_farm, VMHQ_OT_add_node, VMHQ_PT_panel)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.NODE_MT_add.append(draw_add_menu)


def unregister() -> None:
    bpy.types.NODE_MT_add.remove(draw_add_menu)
    for job in list(JOBS.values()):
        job.cancel()
    JOBS.clear()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
