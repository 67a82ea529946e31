"""Upscale tab: model choice, any scale 1-8, tiled inference with a progress bar."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from models.registry import Task
from ops.upscale import check_tile, upscale
from ui.common import MODEL, SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import read_image
from ui.inputs import example, image_input
from ui.models import model_picker, spec_for
from ui.progress import download_reporter, reporter

TITLE = "Upscale"


def run_upscale(ctx: AppContext, image, model_id: str | None, scale: float, tile: int, progress=None):
    """Upscale one image; returns (before path, after path, note)."""
    check_tile(int(tile))
    src = read_image(image)
    spec = spec_for(ctx, Task.UPSCALE, model_id)
    model = ctx.cache.get(spec.id, progress=download_reporter(progress))
    out = upscale(src, model, float(scale), tile=int(tile) or None, progress=reporter(progress))
    note = f"{spec.title}: {src.width}x{src.height} -> {out.width}x{out.height}"
    if out.bit_depth == 16:
        note += " (16-bit kept)"
    if out.alpha is not None:
        note += " (transparency kept)"
    what = f"x{float(scale):g}"
    return ctx.save(src, result_stem(image, "original")), ctx.save(out, result_stem(image, what)), note


def upscale_handler(ctx: AppContext) -> Callable:
    """The Upscale button's handler, the API's /upscale."""

    @on_gpu(120)  # the largest inputs at 8x take a while even on a GPU
    @friendly
    def on_upscale(image, model_id, scale, tile, progress=gr.Progress()):
        """Upscale an image by any factor from 1 to 8 with the chosen model.

        Args:
            image: the image file to upscale.
            model_id: a model id from the registry (None or left out = the default upscaler).
            scale: output scale, 1 to 8.
            tile: tile size in pixels, 0 = automatic.
        """
        before, after, msg = run_upscale(ctx, image, model_id, scale, tile, progress)
        return (before, after), after, msg

    return on_upscale


def build(ctx: AppContext) -> TabParts:
    """Lay out the tab inside the current gr.Tab and wire its events."""
    gr.Markdown(
        "Make an image bigger. Learned models add detail that classical filters cannot; "
        "models marked *slow on CPU* are tiled and can take minutes without a GPU."
    )
    with gr.Row():
        with gr.Column():
            image = image_input(
                label="Image",
                elem_id="upscale-input",
                sources=["upload", "clipboard"],
                height=320,
            )
            model = model_picker(ctx, Task.UPSCALE, ctx.defaults.spec(Task.UPSCALE), "upscale-model")
            scale = gr.Slider(1, 8, value=4, step=0.5, label="Output scale")
            tile = gr.Slider(0, 1024, value=0, step=32, label="Tile size (0 = automatic)")
            go = gr.Button("Upscale", variant="primary")
            gr.Examples([[example("castle-small.png")], [example("ladybird-small.png")]], [image])
        with gr.Column():
            slider = gr.ImageSlider(label="Before / after", type="filepath", format="png", image_mode="RGBA")
            result = gr.Image(
                label="Result (PNG, full size)",
                elem_id="upscale-result",
                type="filepath",
                format="png",
                image_mode="RGBA",
                interactive=False,
                height=320,
            )
            note = gr.Markdown()

    go.click(
        upscale_handler(ctx),
        [image, model, scale, tile],
        [slider, result, note],
        api_name="upscale",
        concurrency_id=MODEL,
    )
    # a new input clears the last result, which "send to" would otherwise still send
    image.change(lambda: (None, None, ""), None, [slider, result, note], api_visibility="private", queue=False)
    return TabParts(result=result, targets=(SendTarget(TITLE, image),))


TAB = Tab(id="upscale", title=TITLE, build=build)
