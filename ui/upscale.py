"""Upscale tab: model choice, any scale 1-8, tiled inference with a progress bar; an animation frame by frame."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from models.registry import Task
from ops.animation import Animation, check_animation, probe_animation, upscale_animation
from ops.upscale import check_scale, check_tile, upscale
from ui.common import MODEL, SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import read_image
from ui.inputs import example, image_input
from ui.models import model_picker, spec_for
from ui.progress import download_reporter, reporter

TITLE = "Upscale"


#: the suffix of an upscaled animation, by its kind (ops.animation.Animation.kind)
_ANIMATION_SUFFIXES = {"GIF": ".gif", "WEBP": ".webp", "PNG": ".png"}


def _uploaded_path(value: Any) -> str | None:
    """The file a Gradio image value names, or None (an array, nothing)."""
    if isinstance(value, dict):
        value = value.get("path")
    return str(value) if isinstance(value, (str, Path)) and str(value) else None


def run_upscale(ctx: AppContext, image, model_id: str | None, scale: float, tile: int, progress=None):
    """Upscale one image, or every frame of an animation into one of its kind; returns (before path, after
    path, note)."""
    check_tile(int(tile))
    scale = check_scale(scale)  # a number from 1 to 8 before it picks the model
    path = _uploaded_path(image)
    anim = probe_animation(path) if path else None
    if anim is not None:
        return run_animation(ctx, path, anim, model_id, scale, tile, progress)
    src = read_image(image)
    spec = spec_for(ctx, Task.UPSCALE, model_id, scale=scale)
    model = ctx.cache.get(spec.id, progress=download_reporter(progress))
    out = upscale(src, model, float(scale), tile=int(tile) or None, progress=reporter(progress))
    note = f"{spec.title}: {src.width}x{src.height} -> {out.width}x{out.height}"
    if out.bit_depth == 16:
        note += " (16-bit kept)"
    if out.alpha is not None:
        note += " (transparency kept)"
    what = f"x{float(scale):g}"
    return ctx.save(src, result_stem(image, "original")), ctx.save(out, result_stem(image, what)), note


def run_animation(
    ctx: AppContext, path: str, anim: Animation, model_id: str | None, scale: float, tile: int, progress=None
):
    """Upscale every frame of the animation at ``path`` into a file of its kind with its timing and loop; the
    frame count and the time it will take are shown once the first frame is done. Returns (the animation,
    the result, note)."""
    check_animation(anim, scale)  # before the model loads
    spec = spec_for(ctx, Task.UPSCALE, model_id, scale=scale)
    model = ctx.cache.get(spec.id, progress=download_reporter(progress))
    dst = ctx.out_path(result_stem(path, f"x{float(scale):g}"), _ANIMATION_SUFFIXES[anim.kind])
    done = upscale_animation(
        path, model, float(scale), dst, tile=int(tile) or None, progress=reporter(progress), on_estimate=gr.Info
    )
    note = (
        f"{spec.title}: {anim.frames} frames, {anim.size[0]}x{anim.size[1]} -> {done.size[0]}x{done.size[1]} "
        f"({anim.kind_name}, frame timing and loop kept)"
    )
    return path, str(done.path), note


def upscale_handler(ctx: AppContext) -> Callable:
    """The Upscale button's handler, the API's /upscale."""

    @on_gpu(120)  # the largest inputs at 8x take a while even on a GPU
    @friendly
    def on_upscale(image, model_id, scale, tile, progress=gr.Progress()):
        """Upscale an image by any factor from 1 to 8 with the chosen model; an animated GIF, WebP or APNG
        frame by frame into an animation of its kind.

        Args:
            image: the image file to upscale.
            model_id: a model id from the registry (None, "auto" or left out = the default upscaler for the
                scale: offline, SPAN x2 up to x2 and SPAN x4 above).
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
        "models marked *slow on CPU* are tiled and can take minutes without a GPU. An animated GIF, WebP or "
        "APNG is upscaled frame by frame into an animation of its kind."
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
                label="Result (full size: PNG, an animation its own kind)",
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
