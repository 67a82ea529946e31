"""Composite tab: place a foreground on a background with blend modes, Poisson or depth."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from PIL import Image

from core.errors import InvalidInputError
from core.numbers import whole_number
from ops.composite import (
    BLEND_MODES,
    centred_at,
    composite,
    depth_composite,
    depth_from_image,
    misses_canvas,
    placed_size,
    resize_notes,
)
from ui.common import MODEL, PIXELS, SendTarget, Tab, TabParts
from ui.context import AppContext, result_stem
from ui.cutout import run_cutout
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.images import read_image, read_optional
from ui.inputs import example, image_input

TITLE = "Composite"
MODES = ("alpha", "seamless", "depth")
#: the inputs of a composite, in the order of the API's /composite (and of run_composite after ``ctx``)
INPUTS = (
    "background",
    "foreground",
    "mask",
    "x",
    "y",
    "scale",
    "rotate",
    "opacity",
    "feather",
    "blend_mode",
    "mode",
    "bg_depth_file",
    "bg_depth",
    "fg_depth_file",
    "fg_depth",
    "softness",
)


def run_composite(
    ctx: AppContext,
    background,
    foreground,
    mask=None,
    x: int = 0,
    y: int = 0,
    scale: float = 1.0,
    rotate: float = 0.0,
    opacity: float = 1.0,
    feather: float = 0.0,
    blend_mode: str = "normal",
    mode: str = "alpha",
    bg_depth_file=None,
    bg_depth: float = 0.5,
    fg_depth_file=None,
    fg_depth: float = 0.5,
    softness: float = 0.0,
) -> str:
    """Composite and return the result's PNG path."""
    bg = read_image(background, "a background image")
    fg = read_image(foreground, "a foreground image")
    m = read_optional(mask)
    place = dict(
        x=whole_number(x, "The x field"),
        y=whole_number(y, "The y field"),
        scale=float(scale),
        rotate=float(rotate),
        opacity=float(opacity),
    )
    missed = misses_canvas(fg.size, bg.size, place["x"], place["y"], place["scale"], place["rotate"])
    if missed:
        gr.Warning(f"{missed} Change x and y, or click where it should go.")
    bg_d = fg_d = None
    if mode == "depth":
        bgd, fgd = read_optional(bg_depth_file), read_optional(fg_depth_file)
        bg_d = depth_from_image(bgd) if bgd is not None else float(bg_depth)
        fg_d = depth_from_image(fgd) if fgd is not None else float(fg_depth)
    for note in resize_notes(bg, fg, m, bg_d, fg_d):
        gr.Warning(note)
    if mode == "depth":
        out = depth_composite(
            bg,
            fg,
            bg_depth=bg_d,
            fg_depth=fg_d,
            mask=m,
            feather=float(feather),
            blend_mode=blend_mode,
            softness=float(softness),
            **place,
        )
    else:
        out = composite(
            bg, fg, mask=m, feather=float(feather), blend_mode=blend_mode, seamless=(mode == "seamless"), **place
        )
    return ctx.save(out, result_stem(background, "composite"))


def _foreground_size(foreground) -> tuple[int, int] | None:
    """The foreground file's (width, height) from its header, or None when there is none or it is no image."""
    if not foreground:
        return None
    path = foreground.get("path") if isinstance(foreground, dict) else foreground
    try:
        with Image.open(path) as im:  # the header is enough
            return im.size
    except (OSError, ValueError, TypeError):
        return None


def place_at(foreground, scale, rotate, point) -> tuple[int, int]:
    """x, y that centre the (scaled, rotated) foreground on ``point``, a clicked pixel of the background."""
    if not isinstance(point, (list, tuple)) or len(point) != 2:
        raise InvalidInputError("Click on the picture itself to place the foreground.")
    cx, cy = (int(v) for v in point)
    size = _foreground_size(foreground)
    return (cx, cy) if size is None else centred_at(size, (cx, cy), float(scale), float(rotate))


def keep_centre(foreground, x, y, placed, scale, rotate) -> tuple[int, int, list[float]]:
    """x, y after the user changes the scale or rotation, so that the foreground grows and turns about its
    centre (x, y are the top-left of its box, which moves as the box changes size); ``placed`` is the
    [scale, rotation] that x, y were set for, and the new one is returned with them."""
    size = _foreground_size(foreground)
    new = [float(scale), float(rotate)]
    try:
        x0, y0 = whole_number(x, "The x field"), whole_number(y, "The y field")
        bw, bh = placed_size(size, *placed) if size else (0, 0)
    except (InvalidInputError, TypeError, ValueError):
        return x, y, new  # nothing sound to keep: leave x and y as they are
    if not size:
        return x0, y0, new
    return (*centred_at(size, (x0 + bw / 2, y0 + bh / 2), *new), new)


def composite_handler(ctx: AppContext) -> Callable:
    """The Composite button's handler, the API's /composite."""

    @friendly
    def on_composite(
        background,
        foreground,
        mask,
        x,
        y,
        scale,
        rotate,
        opacity,
        feather,
        blend_mode,
        mode,
        bg_depth_file,
        bg_depth,
        fg_depth_file,
        fg_depth,
        softness,
    ):
        """Composite a foreground onto a background.

        Args:
            background: background image file.
            foreground: foreground image file (alpha respected).
            mask: optional foreground mask, white = keep.
            x: left of the foreground in background pixels.
            y: top of the foreground in background pixels.
            scale: foreground scale factor.
            rotate: rotation in degrees, counter-clockwise.
            opacity: 0 to 1.
            feather: softening of the foreground's edge, in pixels.
            blend_mode: one of normal, multiply, screen, overlay, soft_light, darken, lighten, difference, add.
            mode: alpha, seamless or depth.
            bg_depth_file: optional background depth map (black = near).
            bg_depth: constant background depth when no map.
            fg_depth_file: optional foreground depth map.
            fg_depth: constant foreground depth when no map.
            softness: width of the depth transition.
        """
        return run_composite(
            ctx,
            background,
            foreground,
            mask,
            x,
            y,
            scale,
            rotate,
            opacity,
            feather,
            blend_mode,
            mode,
            bg_depth_file,
            bg_depth,
            fg_depth_file,
            fg_depth,
            softness,
        )

    return on_composite


def preview_handler(on_composite: Callable) -> Callable:
    """The live preview: a composite once both images are there (errors still show), else nothing changes."""

    def redraw(background, foreground, *rest):
        if not background or not foreground:
            return gr.skip()
        return on_composite(background, foreground, *rest)

    return redraw


@friendly
def on_click(foreground, scale, rotate, evt: gr.SelectData) -> tuple[int, int]:
    """A click on the background or the result: x, y that centre the foreground there."""
    return place_at(foreground, scale, rotate, evt.index)


def cut_handler(ctx: AppContext, which: str) -> Callable:
    """A "Cut out" button under the background or the foreground: that picture replaced by its subject on
    transparency (the default cutout model, inside the box when one is given), which then composites as a
    sticker does."""

    @on_gpu(60)
    @friendly
    def on_cut(image, box):
        if not image:
            raise InvalidInputError(f"Upload the {which} first.")
        return run_cutout(ctx, image, None, box or "", False, 0, 0)[0]

    return on_cut


def clear() -> None:
    """No result: a new background or foreground replaces it."""
    return None


INTRO = (
    "Put one image on another; a foreground with transparency (a PNG sticker, or one from Generate) pastes "
    "cleanly. **alpha**: normal compositing with blend modes; **seamless**: "
    "Poisson cloning that matches the background's light; **depth**: the nearer pixel wins "
    "(smaller depth = nearer; depth maps are grayscale images, black = near). **Click the background "
    "or the result** to centre the foreground there; scale and rotation keep its centre, and the result redraws "
    "as you change a setting."
)


def _settings() -> dict:
    """The left column: the two images, an optional mask, the placement and the mode."""
    with gr.Row():
        c = dict(
            background=image_input(label="Background", elem_id="composite-bg", height=220),
            foreground=image_input(label="Foreground", elem_id="composite-fg", height=220),
        )
    with gr.Row():
        c["cut_background"] = gr.Button("Cut out the background's subject", size="sm", elem_id="composite-cut-bg")
        c["cut_foreground"] = gr.Button("Cut out the foreground", size="sm", elem_id="composite-cut-fg")
        c["swap"] = gr.Button("Swap background and foreground", size="sm", elem_id="composite-swap")
    c["cut_box"] = gr.Textbox(
        label="Box around the subject to cut out (X,Y,WIDTH,HEIGHT in pixels; empty = the main subject). To put "
        "a new sky behind a building: cut the building out of its photo, swap it to the foreground, and load the "
        "sky as the background",
        elem_id="composite-cut-box",
    )
    with gr.Accordion("Foreground mask (optional, white = keep)", open=False):
        c["mask"] = image_input(label="Mask", height=160)
    c["mode"] = gr.Radio(list(MODES), value="alpha", label="Mode")
    with gr.Row():
        c["x"] = gr.Number(0, label="x (px)", precision=0)
        c["y"] = gr.Number(0, label="y (px)", precision=0)
        c["scale"] = gr.Slider(0.05, 8, value=1, step=0.05, label="Scale", elem_id="composite-scale")
        c["rotate"] = gr.Slider(-180, 180, value=0, step=1, label="Rotate (deg)")
    with gr.Row():
        c["opacity"] = gr.Slider(0, 1, value=1, step=0.01, label="Opacity", elem_id="composite-opacity")
        c["feather"] = gr.Slider(0, 50, value=0, step=0.5, label="Feather (px)")
        c["blend_mode"] = gr.Dropdown(list(BLEND_MODES), value="normal", label="Blend mode")
    with gr.Accordion("Depth", open=False):
        with gr.Row():
            c["bg_depth_file"] = image_input(label="Background depth map", height=140)
            c["fg_depth_file"] = image_input(label="Foreground depth map", height=140)
        with gr.Row():
            c["bg_depth"] = gr.Slider(0, 1, value=0.6, step=0.01, label="Background depth (no map)")
            c["fg_depth"] = gr.Slider(0, 1, value=0.4, step=0.01, label="Foreground depth (no map)")
            c["softness"] = gr.Slider(0, 0.5, value=0.0, step=0.01, label="Transition width")
    c["go"] = gr.Button("Composite", variant="primary")
    gr.Examples(
        [[example("castle.jpg"), example("star.png"), 330, 150]], [c["background"], c["foreground"], c["x"], c["y"]]
    )
    return c


def build(ctx: AppContext) -> TabParts:
    """Lay out the tab inside the current gr.Tab and wire its events."""
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column():
            c = _settings()
        with gr.Column():
            c["result"] = gr.Image(
                label="Result",
                elem_id="composite-result",
                type="filepath",
                format="png",
                image_mode="RGBA",
                interactive=False,
                height=420,
            )
    on_composite = composite_handler(ctx)
    c["go"].click(
        on_composite, [c[name] for name in INPUTS], [c["result"]], api_name="composite", concurrency_id=PIXELS
    )
    _wire_preview(c, preview_handler(on_composite))
    # a swap or a cut-out replaces an input, whose change redraws the result (see _wire_preview)
    c["swap"].click(
        lambda bg, fg: (fg, bg),
        [c["background"], c["foreground"]],
        [c["background"], c["foreground"]],
        api_visibility="private",
        queue=False,
    )
    for which in ("background", "foreground"):
        c[f"cut_{which}"].click(
            cut_handler(ctx, which),
            [c[which], c["cut_box"]],
            [c[which]],
            api_visibility="private",
            concurrency_id=MODEL,
        )
    targets = (
        SendTarget(f"{TITLE} (background)", c["background"]),
        SendTarget(f"{TITLE} (foreground)", c["foreground"]),
    )
    return TabParts(result=c["result"], targets=targets)


def _wire_preview(c: dict, redraw: Callable) -> None:
    """The live preview. Sliders redraw on input: while dragged (always_last drops the frames a slow redraw
    cannot keep up with), and when a value is typed into their box (Enter or leaving it), which fires no
    release. Scale and rotation first move x, y so that the foreground keeps its centre."""
    inputs, result = [c[name] for name in INPUTS], [c["result"]]
    live = dict(api_visibility="private", trigger_mode="always_last", show_progress="minimal", concurrency_id=PIXELS)
    placed = gr.State([1.0, 0.0])  # the [scale, rotation] that x, y were set for
    for clicked in (c["background"], c["result"]):
        clicked.select(
            on_click, [c["foreground"], c["scale"], c["rotate"]], [c["x"], c["y"]], api_visibility="private"
        ).success(redraw, inputs, result, **live)
    for slider in (c["scale"], c["rotate"]):
        slider.input(
            keep_centre,
            [c["foreground"], c["x"], c["y"], placed, c["scale"], c["rotate"]],
            [c["x"], c["y"], placed],
            api_visibility="private",
            trigger_mode="always_last",
            show_progress="hidden",
        ).then(redraw, inputs, result, **live)
    for slider in ("opacity", "feather", "bg_depth", "fg_depth", "softness"):
        c[slider].input(redraw, inputs, result, **live)
    # A new background or foreground (an upload, an example, a "send to") replaces the result at once, cleared
    # first so that no old composite stays when the redraw fails or waits for the other image.
    for layer in (c["background"], c["foreground"]):
        layer.change(clear, None, result, api_visibility="private", queue=False).then(redraw, inputs, result, **live)
    for field in (c["x"], c["y"]):
        field.submit(redraw, inputs, result, **live)
        field.blur(redraw, inputs, result, **live)
    for choice in (c["blend_mode"], c["mode"]):
        choice.input(redraw, inputs, result, **live)


TAB = Tab(id="composite", title=TITLE, build=build)
