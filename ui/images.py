"""Reading the images the tabs are given: Gradio's values (paths, arrays, editor dicts) as ImageData."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from core.errors import InvalidInputError
from core.image import ImageData, from_numpy
from ops.convert import decode, load_image, load_notes, open_image


def read_image(value: Any, what: str = "an image") -> ImageData:
    """Image from a Gradio value (file path, numpy array or FileData dict); clear error if missing."""
    if value is None or (isinstance(value, str) and not value):
        raise InvalidInputError(f"Please upload {what} first.")
    if isinstance(value, dict):
        value = value.get("path") or value.get("url")
    if isinstance(value, np.ndarray):
        return from_numpy(value)
    image = load_image(value)
    for note in load_notes(value) if isinstance(value, (str, Path)) else ():
        gr.Warning(note)
    return image


def read_optional(value: Any) -> ImageData | None:
    """The image of an optional input, or None when it is empty."""
    return None if value is None or (isinstance(value, str) and not value) else read_image(value)


def editor_parts(value: Any) -> tuple[ImageData, np.ndarray | None]:
    """(background image, painted-mask alpha HxW uint8 or None) from a gr.ImageEditor value."""
    if not isinstance(value, dict) or value.get("background") is None:
        raise InvalidInputError("Please upload an image into the editor first.")
    image = read_image(value["background"])
    if image.alpha is not None and bool((image.alpha >= 1).all()):
        image = image.with_pixels(image.rgb, alpha=None)  # the editor always sends RGBA
    painted = None
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        arr = np.asarray(layer) if isinstance(layer, np.ndarray) else _layer_array(layer)
        if arr.ndim == 3 and arr.shape[2] == 4:
            a = arr[..., 3]
        else:
            a = arr if arr.ndim == 2 else arr.max(axis=2)
        a = _fitted(np.ascontiguousarray(a, dtype=np.uint8), image.size)
        painted = a if painted is None else np.maximum(painted, a)
    return image, painted


def painted_box(editor: Any) -> list[int] | None:
    """[left, top, width, height] around what is painted on a paint editor; None when nothing is painted (or
    there is no picture)."""
    if not isinstance(editor, dict) or editor.get("background") is None:
        return None
    _, painted = editor_parts(editor)
    if painted is None or not (painted > 0).any():
        return None
    rows, cols = np.flatnonzero((painted > 0).any(1)), np.flatnonzero((painted > 0).any(0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0]) + 1, int(rows[-1] - rows[0]) + 1]


def _layer_array(layer: Any) -> np.ndarray:
    """A painted layer given as a file (an API caller's): read as every image is, its header first."""
    path = layer.get("path") if isinstance(layer, dict) else layer
    if not isinstance(path, (str, Path)):
        raise InvalidInputError("The painted layer is not an image Ganvas can read: paint the mask again.")
    with open_image(path, name="The painted layer") as im:
        decode(im, "The painted layer")
        return np.asarray(im.convert("RGBA"))


def _fitted(painted: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A painted layer at the picture's ``size`` (width, height): a layer of another size is stretched to it
    (nearest), as a mask of another size is."""
    if painted.shape[::-1] == tuple(size):
        return painted
    return np.asarray(Image.fromarray(painted).resize(size, Image.Resampling.NEAREST))
