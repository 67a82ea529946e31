"""The image inputs of the tabs: uploads, paint editors, the values that fill them, and the bundled examples."""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from core.errors import GanvasError, quoted
from ops.convert import check_whole, decode, open_image, probe_image

log = logging.getLogger("ganvas")

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
        name = _upload_name(payload)
        uploaded = payload is not None and payload.path and not (payload.url or "").startswith("data:")
        try:  # an uploaded file is handed on as it is (Gradio's own reading would open it with PIL first)
            path = str(payload.path) if uploaded else plain(payload)
        except gr.Error:
            raise
        except Exception as exc:  # PIL raises several unrelated types for unreadable files
            raise gr.Error(f"{name} is not an image Ganvas can read: it is damaged, or not an image at all.") from exc
        if isinstance(path, str):
            try:  # the header alone: size and type, before any pixel is decoded
                probe_image(path, name=name)
            except GanvasError as exc:
                raise gr.Error(str(exc)) from exc
        return path

    field.preprocess = preprocess
    # read at upload too, so that a file that is no image or too large gets its message at once, not at the
    # tab's button (not where the tab's own change handler reads it anyway: the message would show once for
    # each reading). Queued (an unqueued event's error shows no message), in a slot of its own: the header
    # check never waits behind the model or pixel work.
    if check_on_upload:
        field.upload(lambda value: None, [field], None, api_visibility="private", show_progress="hidden")
    return field


def _upload_name(payload) -> str:
    """The name an upload had on the sender's side, for messages (cut short: an API caller may send any)."""
    name = (payload.orig_name or Path(payload.path or "").name) if payload is not None else ""
    name = name or "The file"
    return name if len(name) <= 80 else f"{name[:79]}…"


def paint_editor(label: str, layer: str, colour: str, height: int, elem_id: str) -> gr.ImageEditor:
    """A canvas to paint a region on (Inpaint's mask, Edit's region): one fixed-colour brush and an eraser on a
    single layer named ``layer``, no uploads (another input hands it its picture) and no transforms. The editor
    hands the painting back as RGBA arrays (:func:`ui.images.editor_parts` reads them). Its class,
    ``paint-editor``, lets the app's CSS keep the toolbar off the label on a phone."""
    editor = gr.ImageEditor(
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
    _guard_editor(editor)
    return editor


#: the pictures of an editor's value, by the name of their field, as messages name them
_EDITOR_PARTS = (
    ("background", "The picture in the editor"),
    ("layers", "The painted layer"),
    ("composite", "The editor's composite picture"),
)


def _guard_editor(editor: gr.ImageEditor) -> None:
    """The editor decodes every picture it is sent (background, layers, composite) in full, before any handler
    runs: each is first checked from its header (an image, within the working limit) and afterwards found whole.
    A picture Gradio cannot decode is read by Ganvas instead (a PNG whose text Pillow refuses is read without
    it), or refused in a sentence that names it."""
    plain = editor.preprocess

    def preprocess(payload):
        files = _editor_files(editor, payload)
        for what, src in files:
            if src is not None:
                try:
                    probe_image(src, name=what)
                except GanvasError as exc:
                    raise gr.Error(str(exc)) from exc
        try:
            value = plain(payload)
        except Exception as exc:  # PIL raises several unrelated types; Ganvas reads such a value itself
            log.info("the image editor could not read its value: %s: %s", type(exc).__name__, exc)
            return _read_editor(editor, payload, files)
        if value:
            decoded = [value.get("background"), *(value.get("layers") or [None]), value.get("composite")]
            for (what, src), pixels in zip(files, decoded, strict=True):
                if src is not None and pixels is not None:
                    try:
                        check_whole(src, what, np.asarray(pixels))
                    except GanvasError as exc:
                        raise gr.Error(str(exc)) from exc
        return value

    editor.preprocess = preprocess


def _read_editor(editor: gr.ImageEditor, payload, files: list[tuple[str, str | io.BytesIO | None]]) -> dict:
    """An editor's value as the editor gives it (RGBA arrays; layers None when there are none), read by Ganvas."""
    if not files:
        return {"background": None, "layers": None, "composite": None}
    pictures = []
    for what, src in files:
        if src is None:
            pictures.append(None)
            continue
        try:
            with open_image(src, name=what) as img:
                decode(img, what)
                pictures.append(np.asarray(img.convert("RGBA")))
        except GanvasError as exc:
            raise gr.Error(str(exc)) from exc
    if payload is not None and payload.id is not None:
        editor.blob_storage.pop(payload.id, None)
    layers = [p for p in pictures[1:-1] if p is not None]
    return {"background": pictures[0], "layers": layers or None, "composite": pictures[-1]}


def _editor_files(editor: gr.ImageEditor, payload) -> list[tuple[str, str | io.BytesIO | None]]:
    """(what it is, its file or None) for the background, each layer and the composite of an editor's value, in
    this order: paths of uploaded files, or the bytes the browser sent (the editor keeps those by the value's
    id). Empty without a value, or when its layers are none."""
    if payload is None:
        return []
    parts = editor.blob_storage.get(payload.id) if payload.id is not None else payload
    if parts is None:
        return []
    layers = list(getattr(parts, "layers", None) or [])
    items = [("background", parts.background)] + [("layers", layer) for layer in layers]
    if not layers:  # the editor's value holds no layers then: the composite comes second
        items.append(("layers", None))
    items.append(("composite", parts.composite))
    what = dict(_EDITOR_PARTS)
    files: list[tuple[str, str | io.BytesIO | None]] = []
    for field, item in items:
        if isinstance(item, (bytes, bytearray, memoryview)):
            files.append((what[field], io.BytesIO(bytes(item))))
        else:
            files.append((what[field], getattr(item, "path", None) if item is not None else None))
    return files


def editor_value(path: str | None) -> dict | None:
    """A paint editor's value showing ``path`` with an empty layer, or None without a path."""
    if not path:
        return None
    return {"background": path, "layers": [], "composite": path}


def guard_inputs(demo: gr.Blocks) -> None:
    """Every input of ``demo`` answers what the HTTP API can send and the page cannot in a sentence of ours:
    numbers (:func:`guard_numbers`), choices (:func:`guard_choices`) and values of the wrong form
    (:func:`guard_payloads`)."""
    guard_numbers(demo)
    guard_choices(demo)
    guard_payloads(demo)


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


def guard_choices(demo: gr.Blocks) -> int:
    """Every dropdown and radio group of ``demo`` without values of the sender's own refuses a value outside its
    choices with a sentence that names it, its choices and the value cut short (Gradio's own message quotes the
    value whole, a megabyte of it if sent). Returns how many it guards."""
    fields = [
        b
        for b in demo.blocks.values()
        if isinstance(b, gr.Radio) or (isinstance(b, gr.Dropdown) and not b.allow_custom_value and not b.multiselect)
    ]
    for field in fields:
        _guard_choice(field)
    return len(fields)


def _guard_choice(field: gr.Dropdown | gr.Radio) -> None:
    plain = field.preprocess
    name = field.label or "A choice"

    def preprocess(payload):
        values = [value for _, value in field.choices]  # read at each call: a tab may change its choices
        if payload is not None and payload not in values:
            listed = ", ".join(str(v) for v in values)
            listed = listed if len(listed) <= 200 else f"{listed[:199]}…"
            raise gr.Error(f"{name} must be one of: {listed} (got {quoted(payload)}).")
        return plain(payload)

    field.preprocess = preprocess


def guard_payloads(demo: gr.Blocks) -> None:
    """A value of the wrong form for an input (text where the image editor takes its pictures, a layer that is
    no file) fails in Gradio before any handler runs, and the sender read only that the app raised an exception:
    it is refused in a sentence that names the input."""
    plain = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await plain(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as exc:
            log.info("an input of %s could not be read: %s: %s", block_fn.name, type(exc).__name__, exc)
            raise gr.Error(
                f"{_refused_input(block_fn.inputs, inputs)} got a value it cannot take: send it in the form the "
                "app's API page shows (“Use via API”)."
            ) from exc

    demo.preprocess_data = preprocess_data


def _refused_input(blocks: list, values: list) -> str:
    """The label of the first input whose value its component's data model refuses ("An input" if none does)."""
    for block, value in zip(blocks, values, strict=False):
        model = getattr(block, "data_model", None)
        if model is None or value is None:
            continue
        try:
            model.model_validate(value)
        except Exception:
            label = getattr(block, "label", None) or "An input"
            return f"“{label}”" if label != "An input" else label
    return "An input"
