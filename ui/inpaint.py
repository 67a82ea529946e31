"""Inpaint tab: paint a mask (or upload one), pick a model, get a before/after slider."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
import numpy as np
import torch

from core.errors import InvalidInputError
from core.image import ImageData, from_numpy
from models.adapters import Matter
from models.registry import Task
from ops.cutout import select_object
from ops.defaults import DEFAULT_DILATE, DEFAULT_FEATHER
from ops.inpaint import STRATEGIES, inpaint
from ui.common import MODEL, SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import editor_parts, read_image, read_optional
from ui.inputs import editor_value, example, image_input, paint_editor
from ui.models import model_picker, spec_for
from ui.progress import download_reporter, reporter

TITLE = "Inpaint"


def run_inpaint(
    ctx: AppContext,
    image: ImageData,
    mask,
    model_id: str | None,
    strategy: str = "crop",
    dilate: int = 0,
    feather: int = 0,
    margin: int = 128,
    progress=None,
    name: object = None,
):
    """Inpaint ``image`` where ``mask`` is set; returns (before path, after path, notices). ``name``: the
    Gradio value the image came from (a file path or an editor value), to name the results after."""
    model = ctx.cache.get(spec_for(ctx, Task.INPAINT, model_id).id, progress=download_reporter(progress))
    res = inpaint(
        image,
        mask,
        model,
        strategy=strategy,
        dilate=int(dilate),
        feather=int(feather),
        margin=int(margin),
        progress=reporter(progress),
    )
    before = ctx.save(image, result_stem(name, "original"))
    return before, ctx.save(res.image, result_stem(name, "inpaint")), res.notices


def inpaint_inputs(source_path: str | None, editor_value, mask_path: str | None) -> tuple[ImageData, ImageData]:
    """(image, mask) for the tab: the photo's own file when there is one, the mask painted or uploaded."""
    source = read_optional(source_path)
    has_background = isinstance(editor_value, dict) and editor_value.get("background") is not None
    if source is None and not has_background:
        raise InvalidInputError("Please upload a photo first.")
    background, painted = editor_parts(editor_value) if has_background else (None, None)
    mask_img = read_optional(mask_path)
    if mask_img is not None:
        mask = mask_img
    elif painted is not None and painted.any():
        mask = from_numpy((painted > 0).astype(np.uint8) * 255)
    else:
        raise InvalidInputError("Paint over the area to fill (or upload a mask) first.")
    # the photo's own file when there is one (the canvas is blank where the browser cannot draw the photo); a
    # painting on a canvas of another size (an API caller's) is resized to it by inpaint(), with a note
    return (background if source is None else source), mask


def inpaint_handler(ctx: AppContext) -> Callable:
    """The Inpaint button's handler, the API's /inpaint."""

    @on_gpu(60)
    @friendly
    def on_inpaint(
        source_path, editor_value, mask_path, model_id, dilate, feather, strategy, margin, progress=gr.Progress()
    ):
        """Fill the painted (or uploaded-mask) region of an image.

        Args:
            source_path: the photo to inpaint (its own file: bit depth, alpha and EXIF are kept).
            editor_value: ImageEditor value: the photo as a background plus a painted mask layer.
            mask_path: optional mask image, white = fill; replaces the painted mask.
            model_id: inpainting model id (None or left out = the default).
            dilate: grow the mask by this many pixels.
            feather: blend width inside the mask edge, in pixels.
            strategy: original, resize or crop (for big images).
            margin: context around each masked region for the crop strategy.
        """
        image, mask = inpaint_inputs(source_path, editor_value, mask_path)
        name = source_path or editor_value
        before, after, notices = run_inpaint(
            ctx, image, mask, model_id, strategy, dilate, feather, margin, progress, name=name
        )
        return (before, after), after, "\n".join(f"- {n}" for n in notices)

    return on_inpaint


def source_handler(ctx: AppContext) -> Callable:
    """A new photo: the canvas shows it, and the last result goes."""

    @friendly
    def on_source(value):
        if not value:
            return None, None, None, ""
        # the canvas shows a PNG of the photo as Ganvas reads it: browsers draw no TIFF, and the editor cannot
        # draw GIF or BMP either; a damaged file gets its message here (the editor's own reading fails silently)
        with ctx.canvas_lock:
            canvas = editor_value(ctx.save(read_image(value), result_stem(value, "canvas")))
        return canvas, None, None, ""

    return on_source


#: "Select object" grows the object's mask by this many pixels, as a painted mask covers the object's edge.
SELECT_GROW = 3


def selector(ctx: AppContext, strokes: bool) -> Matter:
    """The cut-out model that selects an object: the task's default, but for painted strokes a promptable one (the
    registry's offline default, MobileSAM) when the default is not: strokes name the object, and a salient-object
    model (a Hub default) would see only their box."""
    spec = ctx.defaults.spec(Task.CUTOUT) or ctx.registry.default_for(Task.CUTOUT)
    model = ctx.cache.get(spec.id)
    if strokes and not model.takes_points:
        model = ctx.cache.get(ctx.registry.default_for(Task.CUTOUT).id)
    return model


def select_handler(ctx: AppContext) -> Callable:
    """The Select object button: the object under the strokes on the canvas (or, with none, the photo's main
    subject) found by the default cutout model, its mask put on the canvas in place of the strokes."""

    @on_gpu(60)
    @friendly
    def on_select(value, editor):
        """Select the object under the painted strokes (or, with none, the photo's main subject) as a mask.

        Args:
            value: the photo file.
            editor: the paint editor's value; strokes on its layer mark the object (none: the main subject).
        Returns the editor's value with the object's mask as its layer, and a note.
        """
        photo = read_image(value, "a photo")
        painted = editor_parts(editor)[1] if isinstance(editor, dict) and editor.get("background") is not None else None
        strokes = None
        if painted is not None and painted.any():
            if painted.shape != (photo.height, photo.width):
                raise InvalidInputError("The canvas is not this photo's size: upload the photo again.")
            strokes = torch.from_numpy((painted > 0).astype(np.float32))[None, None]
        model = selector(ctx, strokes is not None)
        mask = select_object(photo, model, strokes, SELECT_GROW)[0, 0].numpy() > 0.5
        if not mask.any():
            raise InvalidInputError("No object was found there: paint across the whole object, or paint the mask.")
        layer = np.zeros((*mask.shape, 4), np.uint8)
        layer[mask] = 255
        with ctx.canvas_lock:
            canvas = ctx.save(photo, result_stem(value, "canvas"))
        where = "under your strokes" if strokes is not None else "the photo's main subject"
        note = (
            f"Selected {mask.mean():.0%} of the photo ({where}, {model.spec.title}). Correct the mask with the brush "
            "or the eraser, then press **Inpaint**."
        )
        layers = [ctx.save(from_numpy(layer), result_stem(value, "selection"))]
        return {"background": canvas, "layers": layers, "composite": None}, note

    return on_select


def _examples(ctx: AppContext, default, inputs: list) -> None:
    """The same bush removed by the default model and by a network alone: texture against a smooth fill."""
    offline = [s.id for s in ctx.registry.list(Task.INPAINT) if not s.needs_download]
    shown = [default.id] if default else []
    shown += [m for m in ("ganvas-inpaint", "shift-map") if m in offline and m not in shown][:1]
    gr.Examples([[example("castle.jpg"), example("castle-mask.png"), m] for m in shown], inputs)


def build(ctx: AppContext) -> TabParts:
    """Lay out the tab inside the current gr.Tab and wire its events."""
    default = ctx.defaults.spec(Task.INPAINT)
    gr.Markdown(
        "Remove an object: upload a photo, paint over what should go in the editor below it (any brush "
        "colour), then press **Inpaint**. Or upload a mask (white = fill). Pixels outside the mask are kept "
        "exactly, and so are the photo's bit depth (16-bit PNGs too), transparency and EXIF."
    )
    with gr.Row():
        with gr.Column():
            source = image_input(label="Photo", height=160, elem_id="inpaint-source")
            editor = paint_editor("Paint over what should go", "Mask", "#ffffff", 420, "inpaint-editor")
            with gr.Row():
                select = gr.Button("Select object", elem_id="inpaint-select", scale=0, min_width=140)
                gr.Markdown(
                    "Paint a rough stroke across an object and press **Select object**: its exact mask replaces "
                    "the stroke (with no stroke, the photo's main subject is selected)."
                )
            with gr.Accordion("Mask file (optional, replaces the painted mask)", open=False):
                mask_file = image_input(label="Mask", height=160)
            model = model_picker(ctx, Task.INPAINT, default, "inpaint-model")
            with gr.Row():
                dilate = gr.Slider(0, 64, value=DEFAULT_DILATE, step=1, label="Grow mask (px)")
                feather = gr.Slider(0, 32, value=DEFAULT_FEATHER, step=1, label="Feather (px)")
            with gr.Row():
                strategy = gr.Radio(
                    list(STRATEGIES),
                    value="crop",
                    label="Big images",
                    info="crop: work around each masked region at full resolution",
                )
                margin = gr.Slider(16, 512, value=128, step=16, label="Crop margin (px)")
            go = gr.Button("Inpaint", variant="primary")
            _examples(ctx, default, [source, mask_file, model])
        with gr.Column():
            slider = gr.ImageSlider(label="Before / after", type="filepath", format="png", image_mode="RGBA")
            result = gr.Image(
                label="Result (PNG)",
                elem_id="inpaint-result",
                type="filepath",
                format="png",
                image_mode="RGBA",
                interactive=False,
                height=300,
            )
            notes = gr.Markdown(elem_id="inpaint-notes")

    go.click(
        inpaint_handler(ctx),
        [source, editor, mask_file, model, dilate, feather, strategy, margin],
        [slider, result, notes],
        api_name="inpaint",
        concurrency_id=MODEL,
    )
    select.click(select_handler(ctx), [source, editor], [editor, notes], api_name="select_object", concurrency_id=MODEL)
    # The editor only paints: the photo comes from ``source`` (a plain upload keeps the file as it is, while the
    # editor re-encodes everything as 8-bit PNG in the browser). Not queued: behind other jobs on a busy server
    # the editor's update could wait past the moment "send to" opened its tab and never show. A new photo also
    # clears the last result, which "send to" would otherwise still send, in the same listener: with a second
    # listener on this change, a photo sent from another tab does not reach the editor. Outside the queue, the
    # handler takes ``ctx.canvas_lock``: one canvas is decoded at a time (bench_memory's "inpaint-canvas").
    source.change(source_handler(ctx), [source], [editor, slider, result, notes], api_visibility="private", queue=False)
    return TabParts(result=result, targets=(SendTarget(TITLE, source),))


TAB = Tab(id="inpaint", title=TITLE, build=build, render_children=True)
