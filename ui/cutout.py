"""Cut-out tab: the foreground of a photo as an RGBA layer (or its matte), automatically or inside a box."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
import torch

from models.registry import Task
from ops.cutout import MAX_FEATHER, MAX_GROW, Refine, cutout, matte_image, parse_box
from ui.common import MODEL, SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import read_image
from ui.inputs import example, image_input
from ui.models import model_picker, spec_for
from ui.progress import download_reporter

TITLE = "Cut out"


def run_cutout(
    ctx: AppContext,
    image,
    model_id: str | None,
    box: str,
    mask_only: bool,
    grow: float,
    feather: float,
    progress=None,
) -> tuple[str, str]:
    """Cut the foreground out of one image; returns (result path, note). ``progress``: a gr.Progress for a first
    download of the model's weights."""
    src = read_image(image)
    refine = Refine(grow=int(grow), feather=float(feather))
    rect = parse_box(box) if box and box.strip() else None
    spec = spec_for(ctx, Task.CUTOUT, model_id)
    cut = cutout(src, ctx.cache.get(spec.id, progress=download_reporter(progress)), rect, refine)
    kept = cut.alpha > 0.5 if cut.alpha is not None else torch.ones_like(cut.rgb[:, :1], dtype=torch.bool)
    note = f"{spec.title}: {float(kept.float().mean()):.0%} of the image kept"
    note += f", inside the box {box.strip()}" if rect else _found(kept[0, 0])
    out = matte_image(cut) if mask_only else cut
    return ctx.save(out, result_stem(image, "matte" if mask_only else "cutout")), note


def _found(kept: torch.Tensor) -> str:
    """Where an automatic cut-out found its object (the box around the kept pixels, (H, W) bool), and how to
    choose another: the model picks one subject, which on a photo with several may not be the one meant."""
    rows, cols = torch.nonzero(kept.any(1)).flatten(), torch.nonzero(kept.any(0)).flatten()
    if rows.numel() == 0:
        return ": nothing found to keep. Give a box around the object (click two opposite corners on the image)."
    x, y = int(cols[0]), int(rows[0])
    w, h = int(cols[-1]) - x + 1, int(rows[-1]) - y + 1
    return (
        f", the object at {x},{y},{w},{h}. Not the one you meant? Give a box around it (click two opposite "
        "corners on the image)."
    )


def cutout_handler(ctx: AppContext) -> Callable:
    """The Cut out button's handler, the API's /cutout."""

    @on_gpu(60)
    @friendly
    def on_cutout(image, model_id, box, mask_only, grow, feather, progress=gr.Progress()):
        """Cut the foreground out of an image: an RGBA PNG the size of the input with the background transparent.

        Args:
            image: the image file.
            model_id: a cutout model id from the registry (None or left out = the default).
            box: "X,Y,WIDTH,HEIGHT" in pixels around the object, or empty for the whole image.
            mask_only: return the matte as a grey PNG (white = object) instead of the cut-out.
            grow: pixels to grow the matte by (negative shrinks).
            feather: pixels of soft edge added to the matte.
        """
        return run_cutout(ctx, image, model_id, box, bool(mask_only), grow, feather, progress)

    return on_cutout


def box_click(box: str, evt: gr.SelectData) -> tuple[str, str]:
    """A click on the image: the first marks a corner of the box (the box field shows "X,Y"), the second the
    opposite one (the field shows the whole box "X,Y,WIDTH,HEIGHT"); a click after a whole box starts anew.
    Returns (box field, hint)."""
    x, y = (int(v) for v in evt.index[:2])
    parts = [p.strip() for p in (box or "").split(",")]
    if len(parts) != 2 or not all(p.lstrip("-").isdigit() for p in parts):
        return f"{x},{y}", f"Corner ({x}, {y}) marked: click the opposite corner of the object."
    cx, cy = int(parts[0]), int(parts[1])
    x0, y0, w, h = min(cx, x), min(cy, y), abs(x - cx) + 1, abs(y - cy) + 1
    return f"{x0},{y0},{w},{h}", f"Box {x0},{y0},{w},{h}: press **Cut out** (a click starts a new box)."


def build(ctx: AppContext) -> TabParts:
    """Lay out the tab inside the current gr.Tab and wire its events."""
    gr.Markdown(
        "Take the subject out of its background: the result is a PNG with the background transparent, ready "
        "for Composite. Give a box around the object when the photo has more than one subject."
    )
    with gr.Row():
        with gr.Column():
            image = image_input(label="Image", elem_id="cutout-input", sources=["upload", "clipboard"], height=320)
            model = model_picker(ctx, Task.CUTOUT, ctx.defaults.spec(Task.CUTOUT), "cutout-model")
            box = gr.Textbox(
                label="Box around the object (X,Y,WIDTH,HEIGHT in pixels; empty = whole image)",
                info="Or click two opposite corners of the object on the image.",
                elem_id="cutout-box",
            )
            with gr.Row():
                grow = gr.Slider(-MAX_GROW // 5, MAX_GROW // 5, value=0, step=1, label="Grow (pixels; < 0 shrinks)")
                feather = gr.Slider(0, MAX_FEATHER / 5, value=0, step=0.5, label="Feather (pixels)")
            mask_only = gr.Checkbox(label="Matte only (grey: white = object)")
            go = gr.Button("Cut out", variant="primary")
            gr.Examples([[example("ladybird-small.png")]], [image])
        with gr.Column():
            result = gr.Image(
                label="Result (PNG)",
                elem_id="cutout-result",
                type="filepath",
                format="png",
                image_mode="RGBA",
                interactive=False,
                height=320,
            )
            note = gr.Markdown()
    go.click(
        cutout_handler(ctx),
        [image, model, box, mask_only, grow, feather],
        [result, note],
        api_name="cutout",
        concurrency_id=MODEL,
    )
    image.select(box_click, [box], [box, note], api_visibility="private", show_progress="hidden")
    # a new input clears the last result (which "send to" would otherwise still send) and its box
    image.change(lambda: (None, "", ""), None, [result, note, box], api_visibility="private", queue=False)
    return TabParts(result=result, targets=(SendTarget(TITLE, image),))


TAB = Tab(id="cutout", title=TITLE, build=build)
