"""Edit tab: an ordered recipe of edits with undo, exported as JSON that the CLI replays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch

from core.errors import InvalidInputError
from core.imaging import RESAMPLE_FILTERS
from core.numbers import whole_number
from models.registry import Task
from ops.convert import decode, open_image
from ops.cutout import Cutter, default_cutter
from ops.edit import BACKDROPS, Inpaint, Recipe, image_to_b64png, mask_to_b64png, transparent_mask
from ops.filter import GanFilter, default_filter
from ops.inpaint import default_model_fill
from ui.common import MODEL, PIXELS, SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import editor_parts, painted_box, read_image
from ui.inputs import editor_value, example, image_input, paint_editor
from ui.progress import download_reporter

TITLE = "Edit"
EMPTY = Recipe(steps=[]).to_json()
TRANSPARENT = [0.0, 0.0, 0.0, 0.0]


def content_aware(ctx: AppContext, progress=None) -> Inpaint:
    """The inpainting default resolved at start-up as the edit ops' content-aware fill, on a GPU where there is
    one; a first download moves ``progress`` (a gr.Progress)."""
    chosen = lambda: ctx.defaults.for_task(Task.INPAINT).id  # noqa: E731
    return on_gpu(60)(default_model_fill(lambda: ctx.cache, chosen, download_reporter(progress)))


def cut_out(ctx: AppContext, progress=None) -> Cutter:
    """The cutout default resolved at start-up as the edit ops' background removal, on a GPU where there is
    one; a first download moves ``progress``."""
    chosen = lambda: ctx.defaults.for_task(Task.CUTOUT).id  # noqa: E731
    return on_gpu(60)(default_cutter(lambda: ctx.cache, chosen, download_reporter(progress)))


def restyler(ctx: AppContext, progress=None) -> GanFilter:
    """The edit ops' filter steps (a filter network, as the step names it), on a GPU where there is one; a
    first download moves ``progress``."""
    return on_gpu(120)(default_filter(lambda: ctx.cache, download_reporter(progress)))


def parse_recipe(text: str | None) -> Recipe:
    """The recipe in the recipe box, which a step button adds to: an empty box starts a recipe."""
    return Recipe.from_json(text) if text and text.strip() else Recipe(steps=[])


def apply_recipe(ctx: AppContext, image, recipe_text: str | None, progress=None) -> tuple[str, str, str]:
    """Replay a recipe on the original image; returns (result path, recipe JSON, recipe file path). An empty
    text is no recipe (as in the CLI); ``{"version": 1, "steps": []}`` gives the original back. A model the
    recipe needs that is not downloaded yet shows its download on ``progress`` (a gr.Progress)."""
    src = read_image(image)
    recipe = Recipe.from_json(recipe_text)
    models = dict(
        inpaint=content_aware(ctx, progress), cutter=cut_out(ctx, progress), gan_filter=restyler(ctx, progress)
    )
    out = recipe.apply(src, **models)
    text = recipe.to_json()
    path = ctx.out_path(result_stem(image, "recipe"), ".json")
    path.write_text(text)
    return ctx.save(out, result_stem(image, "edit")), text, str(path)


def hex_to_rgb(colour: str) -> tuple[float, float, float]:
    c = (colour or "#000000").strip()
    if c.startswith("rgb"):
        nums = [float(v) for v in c[c.index("(") + 1 : c.index(")")].split(",")[:3]]
        return tuple(v / 255 for v in nums)  # type: ignore[return-value]
    c = c.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    if len(c) < 6:
        raise InvalidInputError(f"{colour!r} is not a colour.")
    return tuple(int(c[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def region_mask(editor: dict | None) -> str:
    """The painted region of the region editor as a base64 PNG mask."""
    if not editor:
        raise InvalidInputError("Paint the region first, on the image under Erase / fill.")
    _, painted = editor_parts(editor)
    if painted is None or not (painted > 0).any():
        raise InvalidInputError("Paint the region first, on the image under Erase / fill.")
    return mask_to_b64png(torch.from_numpy((painted > 0).astype(np.float32))[None, None])


def transparent_region(result) -> dict:
    """The region of a "fill them" step: the transparent pixels, which the current result must have (else the
    step would change nothing, and the button would seem to do nothing)."""
    if result and not transparent_mask(read_image(result, "the result")).any():
        raise InvalidInputError(
            "Nothing in the result is transparent, so there is nothing to fill. These buttons fill a rotation's "
            "corners, new margins or erased parts; to fill a part of the picture, paint it and use the buttons above."
        )
    return dict(transparent=True)


# What each step button adds to the recipe, from the values of the controls it reads.


def _fill_colour(transparent: bool, colour: str) -> list[float]:
    return TRANSPARENT if transparent else [*hex_to_rgb(colour), 1.0]


def _crop(left, top, width, height) -> dict:
    return dict(
        left=whole_number(left, "The left field"),
        top=whole_number(top, "The top field"),
        width=whole_number(width, "The width field"),
        height=whole_number(height, "The height field"),
    )


def _rotate(angle, expand, transparent, colour) -> dict:
    return dict(angle=float(angle), expand=bool(expand), fill=_fill_colour(transparent, colour))


def _flip(direction: str) -> Callable[[], dict]:
    return lambda: dict(direction=direction)


def _pad(left, top, right, bottom, transparent, colour) -> dict:
    return dict(
        left=whole_number(left, "The left margin", 0),
        top=whole_number(top, "The top margin", 0),
        right=whole_number(right, "The right margin", 0),
        bottom=whole_number(bottom, "The bottom margin", 0),
        fill=_fill_colour(transparent, colour),
    )


def _resize(width, height, method) -> dict:
    return dict(
        width=whole_number(width, "The width field"), height=whole_number(height, "The height field"), method=method
    )


def _adjust(brightness, contrast, saturation, gamma, sharpen, blur) -> dict:
    return dict(
        brightness=float(brightness),
        contrast=float(contrast),
        saturation=float(saturation),
        gamma=float(gamma),
        sharpen=float(sharpen),
        blur=float(blur),
    )


def _erase(region) -> dict:
    return dict(mask_png=region_mask(region))


def _fill(region, colour) -> dict:
    return dict(mask_png=region_mask(region), colour=list(hex_to_rgb(colour)))


def _fill_aware(region) -> dict:
    return dict(mask_png=region_mask(region), content_aware=True)


def backdrop_png(picture, result) -> str:
    """The picture to lay behind a subject, as a recipe carries it: base64 PNG, no larger than it needs to be to
    cover the current result (it is scaled to cover it), so the recipe stays small."""
    if not picture:
        raise InvalidInputError("Upload the picture to put behind the subject first.")
    with open_image(picture, name="The backdrop picture") as im:
        decode(im, "The backdrop picture")
        img = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
    if result:
        with open_image(result, name="the result") as res:
            w, h = res.size
        f = max(w / img.width, h / img.height)
        if f < 1:
            img = img.resize((max(w, round(img.width * f)), max(h, round(img.height * f))), resample=4)
    return image_to_b64png(img)


def _remove_background(region, result, backdrop, colour, blur, picture, crop) -> dict:
    if backdrop not in BACKDROPS:
        raise InvalidInputError(f"Behind the subject must be one of: {', '.join(BACKDROPS)}.")
    step: dict = dict(backdrop=backdrop, crop_to_subject=bool(crop))
    box = painted_box(region)
    if box:
        step["box"] = box
    if backdrop == "colour":
        step["colour"] = list(hex_to_rgb(colour))
    elif backdrop == "blur":
        step["blur"] = float(blur)
    elif backdrop == "image":
        step["image_png"] = backdrop_png(picture, result)
    return step


def _vintage() -> dict:
    return dict(model="cyclegan-vintage")


def _fill_transparent(result, colour) -> dict:
    return dict(**transparent_region(result), colour=list(hex_to_rgb(colour)))


def _fill_transparent_aware(result) -> dict:
    return dict(**transparent_region(result), content_aware=True)


@dataclass(frozen=True)
class Step:
    """A button that adds a step to the recipe: the step's op, the controls it reads (by their names in the
    layout) and how their values become the step's parameters."""

    button: str
    op: str
    controls: tuple[str, ...]
    params: Callable[..., dict]
    #: runs a model (inpainting, cutout), so it waits its turn with the other model jobs
    model: bool = False


STEPS = (
    Step("add_crop", "crop", ("crop_left", "crop_top", "crop_width", "crop_height"), _crop),
    Step("add_rotate", "rotate", ("angle", "expand", "corners_transparent", "corner_colour"), _rotate),
    Step("flip_horizontal", "flip", (), _flip("horizontal")),
    Step("flip_vertical", "flip", (), _flip("vertical")),
    Step(
        "add_margins",
        "pad",
        ("margin_left", "margin_top", "margin_right", "margin_bottom", "margins_transparent", "margin_colour"),
        _pad,
    ),
    Step("add_resize", "resize", ("resize_width", "resize_height", "resize_filter"), _resize),
    Step(
        "add_adjustments",
        "adjust",
        ("brightness", "contrast", "saturation", "gamma", "sharpen", "blur"),
        _adjust,
    ),
    Step("erase", "erase", ("region",), _erase),
    Step("fill", "fill", ("region", "fill_colour"), _fill),
    Step("fill_aware", "fill", ("region",), _fill_aware, model=True),
    Step("fill_transparent", "fill", ("result", "fill_colour"), _fill_transparent),
    Step("fill_transparent_aware", "fill", ("result",), _fill_transparent_aware, model=True),
    Step(
        "remove_background",
        "remove_background",
        ("region", "result", "backdrop", "backdrop_colour", "backdrop_blur", "backdrop_picture", "crop_to_subject"),
        _remove_background,
        model=True,
    ),
    Step("gan_filter_vintage", "gan_filter", (), _vintage, model=True),
)


# The tab's handlers. Each returns the tab's outputs: result, recipe, recipe file and the region canvas.


def _replay(ctx: AppContext, image, recipe_text: str | None, progress=None) -> tuple:
    path, text, rfile = apply_recipe(ctx, image, recipe_text, progress)
    return path, text, rfile, editor_value(path)


def step_handler(ctx: AppContext, step: Step) -> Callable:
    """A step button's handler: the recipe with the step added, replayed on the original."""

    @friendly
    def add_step(image, text, *values):
        read_image(image)  # no image is the first thing to say
        return _replay(ctx, image, parse_recipe(text).add(step.op, **step.params(*values)).to_json())

    return add_step


def undo_handler(ctx: AppContext) -> Callable:
    @friendly
    def on_undo(image, text):
        return _replay(ctx, image, parse_recipe(text).undo().to_json())

    return on_undo


def reset_handler(ctx: AppContext) -> Callable:
    """An empty recipe: the original itself as the result (nothing at all without an original)."""

    @friendly
    def on_reset(image):
        if not image:
            return None, EMPTY, None, None
        return _replay(ctx, image, EMPTY)

    return on_reset


def edit_handler(ctx: AppContext) -> Callable:
    """The Apply recipe button's handler, the API's /edit."""

    @friendly
    def on_edit(image, recipe_json, progress=gr.Progress()):
        """Apply an edit recipe (JSON, as exported by this tab) to an image.

        Args:
            image: the original image file.
            recipe_json: the recipe, e.g. {"version": 1, "steps": [{"op": "rotate", "angle": 90}]}.
        """
        return _replay(ctx, image, recipe_json, progress)

    return on_edit


def cleared() -> tuple:
    """The outputs with no result: the last image's result, recipe and canvas go."""
    return None, EMPTY, None, None


# The layout: each part returns its components by the names the step table reads.


def _geometry() -> dict:
    c = {}
    with gr.Accordion("Crop", open=False):
        with gr.Row():
            c["crop_left"] = gr.Number(0, label="left", precision=0)
            c["crop_top"] = gr.Number(0, label="top", precision=0)
            c["crop_width"] = gr.Number(256, label="width", precision=0)
            c["crop_height"] = gr.Number(256, label="height", precision=0)
        c["add_crop"] = gr.Button("Add crop")
    with gr.Accordion("Rotate / flip", open=False):
        c["angle"] = gr.Slider(
            -180, 180, value=90, step=0.5, label="Angle (deg, counter-clockwise)", elem_id="edit-angle"
        )
        with gr.Row():
            c["expand"] = gr.Checkbox(True, label="Expand canvas")
            c["corners_transparent"] = gr.Checkbox(True, label="Transparent corners")
            c["corner_colour"] = gr.ColorPicker("#000000", label="Corner colour")
        c["add_rotate"] = gr.Button("Add rotate")
        with gr.Row():
            c["flip_horizontal"] = gr.Button("Flip horizontal")
            c["flip_vertical"] = gr.Button("Flip vertical")
    return c


def _canvas() -> dict:
    c = {}
    with gr.Accordion("Canvas margins", open=False):
        gr.Markdown("Grow the canvas; fill the transparent margins content-aware below to extend the picture.")
        with gr.Row():
            for side in ("left", "top", "right", "bottom"):
                c[f"margin_{side}"] = gr.Number(0, label=side, precision=0, minimum=0)
        with gr.Row():
            c["margins_transparent"] = gr.Checkbox(True, label="Transparent margins")
            c["margin_colour"] = gr.ColorPicker("#ffffff", label="Margin colour")
        c["add_margins"] = gr.Button("Add margins")
    with gr.Accordion("Resize", open=False):
        with gr.Row():
            c["resize_width"] = gr.Number(512, label="width", precision=0)
            c["resize_height"] = gr.Number(512, label="height", precision=0)
            c["resize_filter"] = gr.Dropdown(list(RESAMPLE_FILTERS), value="lanczos", label="Filter")
        c["add_resize"] = gr.Button("Add resize")
    return c


def _adjustments() -> dict:
    with gr.Accordion("Adjust", open=False):
        c = dict(
            brightness=gr.Slider(-1, 1, value=0, step=0.01, label="Brightness"),
            contrast=gr.Slider(-1, 1, value=0, step=0.01, label="Contrast"),
            saturation=gr.Slider(-1, 1, value=0, step=0.01, label="Saturation"),
            gamma=gr.Slider(0.1, 5, value=1, step=0.05, label="Gamma"),
            sharpen=gr.Slider(0, 5, value=0, step=0.1, label="Sharpen"),
            blur=gr.Slider(0, 20, value=0, step=0.5, label="Blur (sigma px)"),
        )
        c["add_adjustments"] = gr.Button("Add adjustments")
    return c


def _region() -> dict:
    with gr.Accordion("Erase / fill a painted region", open=True):
        # The current result to paint on (the image edited is the tab's own input). It sits beside the buttons
        # that use it, not under the result: on a phone the columns stack, and the result is far below.
        c = dict(region=paint_editor("Paint the region to erase or fill", "Region", "#ff3366", 320, "edit-region"))
        c["fill_colour"] = gr.ColorPicker("#ffffff", label="Fill colour", elem_id="edit-fill-colour")
        with gr.Row():
            c["erase"] = gr.Button("Erase to transparent")
            c["fill"] = gr.Button("Fill with colour")
            c["fill_aware"] = gr.Button("Content-aware fill")
        gr.Markdown("The transparent areas (a rotation's corners, new margins, erased parts):")
        with gr.Row():
            c["fill_transparent"] = gr.Button("Fill them with colour")
            c["fill_transparent_aware"] = gr.Button("Content-aware fill them", elem_id="edit-fill-transparent")
    return c


def _background() -> dict:
    with gr.Accordion("Remove background", open=False):
        gr.Markdown(
            "Cut the subject out with the cutout model. To pick one subject of several, paint roughly over it "
            "on the canvas under Erase / fill: only what lies in the box around your strokes is kept."
        )
        c = dict(
            backdrop=gr.Radio(
                [("Transparent", "transparent"), ("A colour", "colour"), ("The photo, blurred", "blur")]
                + [("Another picture", "image")],
                value="transparent",
                label="Behind the subject",
                elem_id="edit-backdrop",
            ),
        )
        with gr.Row():
            c["backdrop_colour"] = gr.ColorPicker("#ffffff", label="Colour")
            c["backdrop_blur"] = gr.Slider(1, 50, value=16, step=1, label="Blur (sigma px)")
        c["backdrop_picture"] = image_input(label="Picture behind the subject", height=120)
        c["crop_to_subject"] = gr.Checkbox(False, label="Crop to the subject")
        c["remove_background"] = gr.Button("Remove background", elem_id="edit-remove-background")
    return c


def _filters() -> dict:
    with gr.Accordion("GAN filters", open=False):
        gr.Markdown(
            "Restyle the whole picture with a CycleGAN network, at full size in tiles (about a minute per megapixel "
            "on a 2-core CPU). Transparency is kept."
        )
        c = dict(gan_filter_vintage=gr.Button("GAN filter: vintage", elem_id="edit-gan-vintage"))
    return c


def _recipe_column() -> dict:
    c = dict(
        result=gr.Image(
            label="Result (PNG)",
            elem_id="edit-result",
            type="filepath",
            format="png",
            image_mode="RGBA",
            interactive=False,
            height=300,
        ),
        recipe=gr.Code(EMPTY, language="json", label="Recipe (editable)", interactive=True, elem_id="edit-recipe"),
    )
    with gr.Row():
        c["apply"] = gr.Button("Apply recipe", variant="primary")
        c["recipe_file"] = gr.File(label="recipe.json", interactive=False)
    return c


def build(ctx: AppContext) -> TabParts:
    """Lay out the tab inside the current gr.Tab and wire its events."""
    gr.Markdown(
        "Each button adds a step to the **recipe** and replays it on the original, so **Undo** always "
        "works and the recipe JSON replays identically with `python cli.py edit IN -o OUT --recipe R.json`."
    )
    with gr.Row():
        with gr.Column(scale=1):
            c = dict(image=image_input(label="Original", check_on_upload=False, elem_id="edit-input", height=240))
            gr.Examples([[example("castle.jpg")]], [c["image"]])
            c |= _geometry() | _canvas() | _adjustments() | _filters() | _background() | _region()
            with gr.Row():
                c["undo"] = gr.Button("Undo")
                c["reset"] = gr.Button("Reset")
        with gr.Column(scale=1):
            c |= _recipe_column()
    _wire(ctx, c)
    return TabParts(result=c["result"], targets=(SendTarget(TITLE, c["image"]),))


def _wire(ctx: AppContext, c: dict) -> None:
    """The step buttons from STEPS, then Undo, Reset, Apply recipe and a new original."""
    image, recipe, result = c["image"], c["recipe"], c["result"]
    outputs = [result, recipe, c["recipe_file"], c["region"]]
    # Progress and errors show on the result only: an error badge over the recipe or the region canvas would
    # keep the user from fixing the recipe, or painting the region it asks for.
    # Each replays the recipe on the original: one at a time among the app's pixel work (ui.common.PIXELS).
    quiet = dict(api_visibility="private", show_progress_on=[result], concurrency_id=PIXELS)
    for step in STEPS:
        queue = dict(concurrency_id=MODEL) if step.model else {}
        inputs = [image, recipe, *(c[name] for name in step.controls)]
        c[step.button].click(step_handler(ctx, step), inputs, outputs, **{**quiet, **queue})
    c["undo"].click(undo_handler(ctx), [image, recipe], outputs, **quiet)
    on_reset = reset_handler(ctx)
    c["reset"].click(on_reset, [image], outputs, **quiet)
    # change, not upload: an example or a "send to Edit" starts a new recipe too. The last image's outputs go
    # first, in a step that does not read the new file, so that they go even when it cannot be read.
    image.change(cleared, None, outputs, api_visibility="private", queue=False).then(
        on_reset, [image], outputs, **quiet
    )
    c["apply"].click(
        edit_handler(ctx), [image, recipe], outputs, api_name="edit", concurrency_id=MODEL, show_progress_on=[result]
    )


TAB = Tab(id="edit", title=TITLE, build=build, render_children=True)
