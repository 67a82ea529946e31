"""The image inputs of the tabs: uploads, paint editors, the values that fill them, and the bundled examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from core.errors import GanvasError
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
    # each reading). Unqueued: the header check answers at once, not behind other visitors' work.
    if check_on_upload:
        field.upload(lambda value: None, [field], None, api_visibility="private", show_progress="hidden", queue=False)
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
