"""Edit tab: an ordered recipe of edits with undo, exported as JSON that the CLI replays."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
import numpy as np
import torch

from core.errors import InvalidInputError
from core.imaging import RESAMPLE_FILTERS
from core.numbers import whole_number
from ops.edit import Inpaint, Recipe, mask_to_b64png, transparent_mask
from ops.inpaint import default_model_fill
from ui.common import SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import editor_parts, read_image
from ui.inputs import editor_value, example, image_input, paint_editor

TITLE = "Edit"
EMPTY = Recipe(steps=[]).to_json()


def content_aware(ctx: AppContext) -> Inpaint:
    """The default inpainting model as the edit ops' content-aware fill, on a GPU where there is one."""
    return on_gpu(60)(default_model_fill(lambda: ctx.cache))


def parse_recipe(text: str | None) -> Recipe:
    return Recipe.from_json(text) if text and text.strip() else Recipe(steps=[])


def apply_recipe(ctx: AppContext, image, recipe_text: str | None) -> tuple[str, str, str]:
    """Replay a recipe on the original image; returns (result path, recipe JSON, recipe file path)."""
    src = read_image(image)
    recipe = parse_recipe(recipe_text)
    out = recipe.apply(src, inpaint=content_aware(ctx))
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


def build(ctx: AppContext) -> TabParts:
    gr.Markdown(
        "Each button adds a step to the **recipe** and replays it on the original, so **Undo** always "
        "works and the recipe JSON replays identically with `python cli.py edit IN -o OUT --recipe R.json`."
    )
    with gr.Row():
        with gr.Column(scale=1):
            image = image_input(label="Original", check_on_upload=False, elem_id="edit-input", height=240)
            gr.Examples([[example("castle.jpg")]], [image])
            with gr.Accordion("Crop", open=False):
                with gr.Row():
                    c_left = gr.Number(0, label="left", precision=0)
                    c_top = gr.Number(0, label="top", precision=0)
                    c_w = gr.Number(256, label="width", precision=0)
                    c_h = gr.Number(256, label="height", precision=0)
                b_crop = gr.Button("Add crop")
            with gr.Accordion("Rotate / flip", open=False):
                r_angle = gr.Slider(
                    -180, 180, value=90, step=0.5, label="Angle (deg, counter-clockwise)", elem_id="edit-angle"
                )
                with gr.Row():
                    r_expand = gr.Checkbox(True, label="Expand canvas")
                    r_transparent = gr.Checkbox(True, label="Transparent corners")
                    r_fill = gr.ColorPicker("#000000", label="Corner colour")
                b_rotate = gr.Button("Add rotate")
                with gr.Row():
                    b_fliph = gr.Button("Flip horizontal")
                    b_flipv = gr.Button("Flip vertical")
            with gr.Accordion("Canvas margins", open=False):
                gr.Markdown("Grow the canvas; fill the transparent margins content-aware below to extend the picture.")
                with gr.Row():
                    p_left = gr.Number(0, label="left", precision=0, minimum=0)
                    p_top = gr.Number(0, label="top", precision=0, minimum=0)
                    p_right = gr.Number(0, label="right", precision=0, minimum=0)
                    p_bottom = gr.Number(0, label="bottom", precision=0, minimum=0)
                with gr.Row():
                    p_transparent = gr.Checkbox(True, label="Transparent margins")
                    p_fill = gr.ColorPicker("#ffffff", label="Margin colour")
                b_pad = gr.Button("Add margins")
            with gr.Accordion("Resize", open=False):
                with gr.Row():
                    s_w = gr.Number(512, label="width", precision=0)
                    s_h = gr.Number(512, label="height", precision=0)
                    s_method = gr.Dropdown(list(RESAMPLE_FILTERS), value="lanczos", label="Filter")
                b_resize = gr.Button("Add resize")
            with gr.Accordion("Adjust", open=False):
                a_b = gr.Slider(-1, 1, value=0, step=0.01, label="Brightness")
                a_c = gr.Slider(-1, 1, value=0, step=0.01, label="Contrast")
                a_s = gr.Slider(-1, 1, value=0, step=0.01, label="Saturation")
                a_g = gr.Slider(0.1, 5, value=1, step=0.05, label="Gamma")
                a_sh = gr.Slider(0, 5, value=0, step=0.1, label="Sharpen")
                a_bl = gr.Slider(0, 20, value=0, step=0.5, label="Blur (sigma px)")
                b_adjust = gr.Button("Add adjustments")
            with gr.Accordion("Erase / fill a painted region", open=True):
                # The current result to paint on (the image edited is the tab's own input). It sits here,
                # beside the buttons that use it, not under the result: on a phone the columns stack, and
                # there the canvas was two screens below these buttons.
                region = paint_editor("Paint the region to erase or fill", "Region", "#ff3366", 320, "edit-region")
                f_colour = gr.ColorPicker("#ffffff", label="Fill colour", elem_id="edit-fill-colour")
                with gr.Row():
                    b_erase = gr.Button("Erase to transparent")
                    b_fill = gr.Button("Fill with colour")
                    b_aware = gr.Button("Content-aware fill")
                gr.Markdown("The transparent areas (a rotation's corners, new margins, erased parts):")
                with gr.Row():
                    b_fill_t = gr.Button("Fill them with colour")
                    b_aware_t = gr.Button("Content-aware fill them", elem_id="edit-fill-transparent")
            with gr.Row():
                b_undo = gr.Button("Undo")
                b_reset = gr.Button("Reset")
        with gr.Column(scale=1):
            result = gr.Image(
                label="Result (PNG)",
                elem_id="edit-result",
                type="filepath",
                format="png",
                image_mode="RGBA",
                interactive=False,
                height=300,
            )
            recipe = gr.Code(EMPTY, language="json", label="Recipe (editable)", interactive=True, elem_id="edit-recipe")
            with gr.Row():
                b_apply = gr.Button("Apply recipe", variant="primary")
                recipe_file = gr.File(label="recipe.json", interactive=False)

    outputs = [result, recipe, recipe_file, region]
    # Progress and errors show on the result only: on every output, an error covered the recipe and the region
    # canvas with an "Error" badge, and the user could no longer fix the recipe or paint the region it asked for.
    quiet = dict(api_visibility="private", show_progress_on=[result])

    def finish(image, recipe_obj: Recipe):
        path, text, rfile = apply_recipe(ctx, image, recipe_obj.to_json())
        return path, text, rfile, editor_value(path)

    def adder(op: str, make: Callable[..., dict]):
        @friendly
        def handler(image, text, *args):
            read_image(image)
            return finish(image, parse_recipe(text).add(op, **make(*args)))

        return handler

    b_crop.click(
        adder(
            "crop",
            lambda lt, tp, w, h: dict(
                left=whole_number(lt, "The left field"),
                top=whole_number(tp, "The top field"),
                width=whole_number(w, "The width field"),
                height=whole_number(h, "The height field"),
            ),
        ),
        [image, recipe, c_left, c_top, c_w, c_h],
        outputs,
        **quiet,
    )
    b_rotate.click(
        adder(
            "rotate",
            lambda a, e, t, c: dict(
                angle=float(a), expand=bool(e), fill=[0.0, 0.0, 0.0, 0.0] if t else [*hex_to_rgb(c), 1.0]
            ),
        ),
        [image, recipe, r_angle, r_expand, r_transparent, r_fill],
        outputs,
        **quiet,
    )
    b_fliph.click(adder("flip", lambda: dict(direction="horizontal")), [image, recipe], outputs, **quiet)
    b_flipv.click(adder("flip", lambda: dict(direction="vertical")), [image, recipe], outputs, **quiet)
    b_pad.click(
        adder(
            "pad",
            lambda lt, tp, rt, bt, t, c: dict(
                left=whole_number(lt, "The left margin", 0),
                top=whole_number(tp, "The top margin", 0),
                right=whole_number(rt, "The right margin", 0),
                bottom=whole_number(bt, "The bottom margin", 0),
                fill=[0.0, 0.0, 0.0, 0.0] if t else [*hex_to_rgb(c), 1.0],
            ),
        ),
        [image, recipe, p_left, p_top, p_right, p_bottom, p_transparent, p_fill],
        outputs,
        **quiet,
    )
    b_resize.click(
        adder(
            "resize",
            lambda w, h, m: dict(
                width=whole_number(w, "The width field"), height=whole_number(h, "The height field"), method=m
            ),
        ),
        [image, recipe, s_w, s_h, s_method],
        outputs,
        **quiet,
    )
    b_adjust.click(
        adder(
            "adjust",
            lambda b, c, s, g, sh, bl: dict(
                brightness=float(b),
                contrast=float(c),
                saturation=float(s),
                gamma=float(g),
                sharpen=float(sh),
                blur=float(bl),
            ),
        ),
        [image, recipe, a_b, a_c, a_s, a_g, a_sh, a_bl],
        outputs,
        **quiet,
    )
    b_erase.click(
        adder("erase", lambda reg: dict(mask_png=region_mask(reg))),
        [image, recipe, region],
        outputs,
        **quiet,
    )
    b_fill.click(
        adder("fill", lambda reg, c: dict(mask_png=region_mask(reg), colour=list(hex_to_rgb(c)))),
        [image, recipe, region, f_colour],
        outputs,
        **quiet,
    )
    b_aware.click(
        adder("fill", lambda reg: dict(mask_png=region_mask(reg), content_aware=True)),
        [image, recipe, region],
        outputs,
        **quiet,
        concurrency_id="model",
    )
    b_fill_t.click(
        adder("fill", lambda res, c: dict(**transparent_region(res), colour=list(hex_to_rgb(c)))),
        [image, recipe, result, f_colour],
        outputs,
        **quiet,
    )
    b_aware_t.click(
        adder("fill", lambda res: dict(**transparent_region(res), content_aware=True)),
        [image, recipe, result],
        outputs,
        **quiet,
        concurrency_id="model",
    )

    @friendly
    def on_undo(image, text):
        return finish(image, parse_recipe(text).undo())

    @friendly
    def on_reset(image):
        if not image:
            return None, EMPTY, None, None
        return finish(image, Recipe(steps=[]))

    @friendly
    def on_edit(image, recipe_json):
        """Apply an edit recipe (JSON, as exported by this tab) to an image.

        Args:
            image: the original image file.
            recipe_json: the recipe, e.g. {"version": 1, "steps": [{"op": "rotate", "angle": 90}]}.
        """
        path, text, rfile = apply_recipe(ctx, image, recipe_json)
        return path, text, rfile, editor_value(path)

    b_undo.click(on_undo, [image, recipe], outputs, **quiet)
    b_reset.click(on_reset, [image], outputs, **quiet)
    # change, not upload: an example click or a "send to Edit" from another tab starts a new recipe too. The
    # last image's result, recipe and canvas go first, in a step that does not read the new file: when it cannot
    # be read they stayed, and "send to" still sent the old result.
    image.change(lambda: (None, EMPTY, None, None), None, outputs, api_visibility="private", queue=False).then(
        on_reset, [image], outputs, **quiet
    )
    b_apply.click(on_edit, [image, recipe], outputs, api_name="edit", concurrency_id="model", show_progress_on=[result])
    return TabParts(result=result, targets=(SendTarget(TITLE, image),))


TAB = Tab(id="edit", title=TITLE, build=build, render_children=True)
