"""The image inputs of the tabs: uploads, paint editors, the values that fill them, and the bundled examples."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import GanvasError, quoted
from ops.convert import probe_image

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


def example(name: str) -> str:
    """Path of an example image shipped in assets/examples."""
    return str(EXAMPLES / name)


def image_input(label: str, check_on_upload: bool = True, **kwargs: Any) -> gr.Image:
    """An image upload that hands its file on as uploaded (a path: Ganvas reads bit depth, alpha and EXIF itself).

    Gradio's input opens every upload with PIL first, and a file that is no image (a damaged PNG, text named
    .png) then fails as an unexplained server error; this one's preprocessing turns that into a plain
    message, shown as soon as the file is uploaded. (A subclass of gr.Image would do it too, but Gradio writes
    a ``.pyi`` stub beside the source file of every component class, at import.)
    """
    field = gr.Image(label=label, type="filepath", image_mode=None, **kwargs)
    plain = field.preprocess

    def preprocess(payload):
        name = (payload.orig_name or Path(payload.path or "").name) if payload is not None else "The file"
        try:
            path = plain(payload)
        except gr.Error:
            raise
        except Exception as exc:  # PIL raises several unrelated types for unreadable files
            raise gr.Error(f"{name} is not an image Ganvas can read: it is damaged, or not an image at all.") from exc
        if isinstance(path, str):
            try:  # the header alone: size and type, before any pixel is decoded
                probe_image(path)
            except GanvasError as exc:
                raise gr.Error(str(exc).replace(Path(path).name, name)) from exc
        return path

    field.preprocess = preprocess
    # read at upload too, so that a file that is no image or too large gets its message at once, not at the
    # tab's button (not where the tab's own change handler reads it anyway: the message would show once for
    # each reading). Queued (an unqueued event's error shows no message), in a slot of its own: the header
    # check never waits behind the model or pixel work.
    if check_on_upload:
        field.upload(lambda value: None, [field], None, api_visibility="private", show_progress="hidden")
    return field


def paint_editor(label: str, layer: str, colour: str, height: int, elem_id: str) -> gr.ImageEditor:
    """A canvas to paint a region on (Inpaint's mask, Edit's region): one fixed-colour brush and an eraser on a
    single layer named ``layer``, no uploads (another input hands it its picture) and no transforms. The editor
    hands the painting back as RGBA arrays (:func:`ui.images.editor_parts` reads them). Its class,
    ``paint-editor``, lets the app's CSS keep the toolbar off the label on a phone."""
    return gr.ImageEditor(
        label=label,
        sources=(),
        type="numpy",
        image_mode="RGBA",
        format="png",
        brush=gr.Brush(default_size=24, colors=[colour], color_mode="fixed"),
        eraser=gr.Eraser(default_size=24),
        layers=gr.LayerOptions(allow_additional_layers=False, layers=[layer]),
        transforms=(),
        height=height,
        elem_id=elem_id,
        elem_classes="paint-editor",
    )


def editor_value(path: str | None) -> dict | None:
    """A paint editor's value showing ``path`` with an empty layer, or None without a path."""
    if not path:
        return None
    return {"background": path, "layers": [], "composite": path}


#: The bound of a number field that states none.
UNBOUNDED = 1_000_000_000


def guard_numbers(demo: gr.Blocks) -> int:
    """Every number field and slider of ``demo`` refuses, with a sentence naming it and its range, a value that
    is not a finite number in that range, or not whole where the field counts (the HTTP API can send NaN,
    infinity, text or 1.5 where the page's widgets cannot). Returns how many fields it guards."""
    fields = [b for b in demo.blocks.values() if isinstance(b, (gr.Number, gr.Slider))]
    for field in fields:
        _guard(field)
    return len(fields)


def _guard(field: gr.Number | gr.Slider) -> None:
    plain = field.preprocess
    # an open side is bounded all the same: no size or position of an image goes past a billion pixels
    lo = -UNBOUNDED if field.minimum is None else field.minimum
    hi = UNBOUNDED if field.maximum is None else field.maximum
    name = field.label or "A number"
    step = getattr(field, "step", None)
    # whole: a number field without decimals, or a slider of whole steps that cannot go below 0 (a count or a
    # size in pixels; an angle, which goes negative, may be fractional through the API)
    whole = getattr(field, "precision", None) == 0 or (
        isinstance(field, gr.Slider) and float(step or 0).is_integer() and lo >= 0
    )
    kind = "a whole number" if whole else "a number"
    span = f" from {_plain(lo)} to {_plain(hi)}"

    def preprocess(payload):
        empty = payload is None or (isinstance(payload, str) and not payload.strip())
        if empty and isinstance(field, gr.Number):  # an empty field: the handler says what is missing
            return plain(None)
        try:
            value = float(payload) if not isinstance(payload, bool) else math.nan
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        outside = value < lo or value > hi
        if not math.isfinite(value) or outside or (whole and not value.is_integer()):
            raise gr.Error(f"{name} must be {kind}{span} (got {quoted(payload)}).")
        return plain(int(value) if whole else value)

    field.preprocess = preprocess


def _plain(number: float) -> str:
    """A bound as people write it: 4294967295, not 4.29497e+09; 0.02, not 0.020000."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
