"""What every tab shares: the app context, error translation, image I/O at the UI edge, the tab interface."""

from __future__ import annotations

import functools
import logging
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.components import Component

from core.errors import GanvasError, InvalidInputError
from core.image import ImageData, from_numpy
from models.registry import ModelSpec, Registry, Task
from models.runtime import ModelCache
from ops.convert import animation_note, load_image, save_image

log = logging.getLogger("ganvas")

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"

#: how long the app keeps result files (its own and Gradio's copies), and how often it looks for old ones
RESULTS_KEPT_SECONDS = 24 * 3600
PRUNE_EVERY_SECONDS = 3600


#: results with at least this many pixels are written with zlib level 1 (see AppContext.save)
FAST_PNG_PIXELS = 4_000_000


@dataclass
class AppContext:
    """State shared by the tabs: created once in ``build_demo()`` and passed in, never global."""

    cache: ModelCache
    outdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ganvas-")))
    #: results older than this are deleted (a Space serves many people for weeks: its disk must not fill up)
    keep_seconds: float = RESULTS_KEPT_SECONDS
    _last_prune: float = field(default=0.0, repr=False)
    _prune_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def registry(self) -> Registry:
        return self.cache.registry

    def out_path(self, stem: str, suffix: str = ".png") -> Path:
        """A fresh file path in the app's output folder: ``{stem}{suffix}`` in a folder of its own, so
        a download keeps the plain name (``photo-x4.png``) and no two results overwrite each other."""
        if time.time() - self._last_prune > PRUNE_EVERY_SECONDS:
            self.prune()
        folder = self.outdir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{safe_stem(stem)}{suffix}"

    def prune(self) -> int:
        """Delete the results older than ``keep_seconds``; returns how many were deleted."""
        with self._prune_lock:
            now = time.time()
            self._last_prune = now
            removed = 0
            for entry in self.outdir.iterdir() if self.outdir.is_dir() else ():
                try:
                    if now - entry.stat().st_mtime <= self.keep_seconds:
                        continue
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                    removed += 1
                except OSError:  # gone already, or in use: the next prune tries again
                    continue
            return removed

    def save(self, image: ImageData, stem: str) -> str:
        """Write a result as PNG (alpha, 16-bit and EXIF kept) and return its path. Large results are written
        with fast compression: at 8192x5440 (a 2048x1360 photo upscaled 4x) zlib level 6 took 8.8 s against
        2.4 s at level 1, for 16.9 MB against 22.0 MB, while the user waits for the result."""
        level = 1 if image.width * image.height >= FAST_PNG_PIXELS else 6
        return str(save_image(image, self.out_path(stem), png_level=level))


def safe_stem(stem: str, limit: int = 80) -> str:
    """``stem`` as a portable file name: letters, digits, ``.``, ``_`` and ``-`` (others become ``-``)."""
    clean = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+", "-", stem)).strip("-.")[:limit].strip("-.")
    return clean or "result"


def input_stem(value: Any) -> str | None:
    """The file name (without suffix) a Gradio image value came from, or None when it has none (an array,
    an editor value without a file). Uploads keep their names, so results can be named after them."""
    if isinstance(value, dict):
        value = value.get("background") if "background" in value else value.get("path") or value.get("orig_name")
        if isinstance(value, dict):
            value = value.get("path")
    if isinstance(value, (str, Path)) and str(value):
        return Path(value).stem or None
    return None


def result_stem(value: Any, what: str) -> str:
    """A result's file name: its input's name and what was done (``photo-x4``), or ``what`` alone."""
    stem = input_stem(value)
    return f"{stem}-{what}" if stem else what


def spec_for(ctx: AppContext, task: Task, model_id: str | None, missing: str | None = None) -> ModelSpec:
    """The chosen model's spec (or the task's default); a model of another task is a plain error."""
    return ctx.registry.for_task(task, model_id, missing)


def example(name: str) -> str:
    """Path of an example image shipped in assets/examples."""
    return str(EXAMPLES / name)


def model_choices(registry: Registry, task: Task) -> list[tuple[str, str]]:
    """(label, id) pairs for a model dropdown, each label saying where the weights come from."""
    out = []
    for spec in registry.list(task):
        out.append((model_label(spec), spec.id))
    return out


def model_note(registry: Registry, model_id: str | None) -> str:
    """What the chosen model is good for, and its licence: the line under a model dropdown."""
    if not model_id or model_id not in registry:
        return ""
    spec = registry.get(model_id)
    return f"{spec.description} *Licence: {spec.license}.*"


def model_picker(ctx: AppContext, task: Task, default: ModelSpec | None, elem_id: str) -> gr.Dropdown:
    """The model dropdown of a tab, with the chosen model's note under it (updated on change, unqueued:
    it is a lookup, and must not wait behind a running job)."""
    model = gr.Dropdown(
        model_choices(ctx.registry, task), value=default.id if default else None, label="Model", elem_id=elem_id
    )
    note = gr.Markdown(model_note(ctx.registry, default.id if default else None), elem_id=f"{elem_id}-note")
    model.change(lambda m: model_note(ctx.registry, m), [model], [note], api_visibility="private", queue=False)
    return model


def model_label(spec: ModelSpec) -> str:
    tags = []
    if spec.is_classical:
        tags.append("classical")
    elif spec.needs_download:
        tags.append("download")
    else:
        tags.append("offline")
    if spec.slow_on_cpu:
        tags.append("slow on CPU")
    return f"{spec.title} [{', '.join(tags)}]"


def friendly(fn: Callable) -> Callable:
    """Turn typed errors into a gr.Error toast with the error's own plain sentence."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GanvasError as exc:
            raise gr.Error(str(exc)) from exc
        except MemoryError as exc:
            raise gr.Error("The machine ran out of memory: try a smaller image or a smaller tile size.") from exc
        except Exception as exc:  # the server must survive anything a handler does
            log.exception("unexpected error in %s", getattr(fn, "__name__", fn))
            raise gr.Error(f"Something went wrong ({exc.__class__.__name__}: {exc}).") from exc

    return wrapper


def on_gpu(duration: int) -> Callable[[Callable], Callable]:
    """Decorator for work that runs a model: on a Hugging Face ZeroGPU Space, a GPU is attached for the call.

    ZeroGPU lends a GPU only inside functions wrapped by ``spaces.GPU`` (elsewhere its stubbed CUDA raises);
    ``duration`` is the longest the call may hold it, in seconds. ``app.py`` imports ``spaces`` before torch
    where it is installed; without it, or off ZeroGPU (where ``spaces.GPU`` hands the function back), this
    changes nothing.
    """

    def wrap(fn: Callable) -> Callable:
        gpu = getattr(sys.modules.get("spaces"), "GPU", None)
        return gpu(duration=duration)(fn) if gpu is not None else fn

    return wrap


def image_input(label: str, check_on_upload: bool = True, **kwargs: Any) -> gr.Image:
    """An image upload that hands its file on as uploaded (a path: Ganvas reads bit depth, alpha and EXIF itself).

    Gradio's input opens every upload with PIL first, and a file that is no image (a damaged PNG, text named
    .png) then failed as an unexplained server error; this one's preprocessing turns that into a plain
    message, shown as soon as the file is uploaded. (A subclass of gr.Image would do it too, but Gradio writes
    a ``.pyi`` stub beside the source file of every component class, at import.)
    """
    field = gr.Image(label=label, type="filepath", image_mode=None, **kwargs)
    plain = field.preprocess

    def preprocess(payload):
        try:
            return plain(payload)
        except gr.Error:
            raise
        except Exception as exc:  # PIL raises several unrelated types for unreadable files
            name = (payload.orig_name or Path(payload.path or "").name) if payload is not None else "The file"
            raise gr.Error(f"{name} is not an image Ganvas can read: it is damaged, or not an image at all.") from exc

    field.preprocess = preprocess
    # read at upload too, so that a file that is no image gets its message at once, not at the tab's button
    # (not where the tab's own change handler reads it anyway: the message showed once for each reading)
    if check_on_upload:
        field.upload(lambda value: None, [field], None, api_visibility="private", show_progress="hidden")
    return field


def paint_editor(label: str, layer: str, colour: str, height: int, elem_id: str) -> gr.ImageEditor:
    """A canvas to paint a region on (Inpaint's mask, Edit's region): one fixed-colour brush and an eraser on a
    single layer named ``layer``, no uploads (another input hands it its picture) and no transforms. The editor
    hands the painting back as RGBA arrays (:func:`editor_parts` reads them). Its class, ``paint-editor``, lets
    the app's CSS keep the toolbar off the label on a phone."""
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


def read_image(value: Any, what: str = "an image") -> ImageData:
    """Image from a Gradio value (file path, numpy array or FileData dict); clear error if missing."""
    if value is None or (isinstance(value, str) and not value):
        raise InvalidInputError(f"Please upload {what} first.")
    if isinstance(value, dict):
        value = value.get("path") or value.get("url")
    if isinstance(value, np.ndarray):
        return from_numpy(value)
    note = animation_note(value) if isinstance(value, (str, Path)) else None
    if note:
        gr.Warning(note)
    return load_image(value)


def read_optional(value: Any) -> ImageData | None:
    return None if value is None or (isinstance(value, str) and not value) else read_image(value)


def editor_parts(value: Any) -> tuple[ImageData, np.ndarray | None]:
    """(background image, painted-mask alpha HxW uint8 or None) from a gr.ImageEditor value."""
    if not isinstance(value, dict) or value.get("background") is None:
        raise InvalidInputError("Please upload an image into the editor first.")
    bg = value["background"]
    image = read_image(bg)
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
        painted = a if painted is None else np.maximum(painted, a)
    return image, painted


def _layer_array(layer: Any) -> np.ndarray:
    from PIL import Image

    path = layer.get("path") if isinstance(layer, dict) else layer
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


@dataclass(frozen=True)
class SendTarget:
    """An input that takes a picture sent from a tab's result; its button reads "Send result to {label}"."""

    label: str
    component: Component


@dataclass(frozen=True)
class TabParts:
    """What a built tab offers the others: its result, and its inputs that a sent picture can go to."""

    result: Component
    targets: tuple[SendTarget, ...] = ()


@dataclass(frozen=True)
class Tab:
    """One tab of the app: app.py lays the tabs out, in the order of its table, and wires "send to" among them."""

    id: str
    title: str
    #: lays the tab out inside the current gr.Tab and wires its events
    build: Callable[[AppContext], TabParts]
    #: mount the tab (hidden) from the start: an image editor that mounts when its tab opens can drop a
    #: picture sent to it by "send to" in the same moment
    render_children: bool = False
