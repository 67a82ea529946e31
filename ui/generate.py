"""Generate tab: model, label, seed, count, truncation -> gallery; interpolation; variations."""

from __future__ import annotations

import logging
import random
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from core.errors import GanvasError, InvalidInputError
from core.numbers import whole_number
from models.registry import ModelSpec, Task
from ops import generate as gen_ops
from ops.defaults import DEFAULT_COUNT
from ui.common import MODEL, Tab, TabParts
from ui.context import AppContext
from ui.errors import friendly
from ui.gpu import on_gpu
from ui.models import model_picker, spec_for
from ui.progress import download_reporter

TITLE = "Generate"

#: ZeroGPU: the longest a generate call holds the GPU (BigGAN-deep's 16 images or 64 frames take seconds)
GENERATE_GPU_SECONDS = 30

log = logging.getLogger("ganvas")


def _generator(ctx: AppContext, model_id: str | None, progress=None):
    missing = (
        "No offline image generator is installed: choose a generator from the list (it may need a "
        "download from the Hugging Face Hub)."
    )
    return ctx.cache.get(spec_for(ctx, Task.GENERATE, model_id, missing).id, progress=download_reporter(progress))


def run_generate(ctx: AppContext, model_id, label, seed, count, truncation, progress=None) -> list[tuple[str, str]]:
    """Sample ``count`` images; returns [(png path, caption)]. ``progress``: a gr.Progress for a first download."""
    gen = _generator(ctx, model_id, progress)
    seed = whole_number(seed, "Seed", 0, gen_ops.MAX_SEED)
    images = gen_ops.sample(gen, seed, count, label, float(truncation))
    stem = gen_ops.file_stem(gen.spec.id, gen, label, float(truncation))  # the CLI's names
    return [(ctx.save(im, f"{stem}-seed{seed + i}"), f"seed {seed + i}") for i, im in enumerate(images)]


def run_interpolate(
    ctx: AppContext, model_id, label_a, label_b, seed_a, seed_b, frames, truncation, fmt: str = "webp", progress=None
) -> str:
    """An animation from (seed_a, label_a) to (seed_b, label_b); returns its path."""
    gen = _generator(ctx, model_id, progress)
    frames_ = gen_ops.interpolate(gen, seed_a, seed_b, label_a, label_b or label_a, frames, float(truncation))
    stem = gen_ops.file_stem(gen.spec.id, gen, label_a, float(truncation))
    name = gen_ops.animation_stem(stem, gen, label_a, label_b, int(seed_a), int(seed_b))
    return str(gen_ops.save_animation(frames_, ctx.out_path(name, f".{fmt}")))


def run_variations(
    ctx: AppContext, model_id, label, seed, count, strength, truncation, progress=None
) -> list[tuple[str, str]]:
    gen = _generator(ctx, model_id, progress)
    seed = whole_number(seed, "Seed", 0, gen_ops.MAX_SEED)
    images = gen_ops.variations(gen, seed, count, label, float(strength), float(truncation))
    stem = gen_ops.file_stem(gen.spec.id, gen, label, float(truncation))
    return [
        (ctx.save(im, gen_ops.variation_stem(stem, seed, i, float(strength))), f"variation {i + 1} of seed {seed}")
        for i, im in enumerate(images)
    ]


def run_zip(ctx: AppContext, items) -> str:
    """One ZIP of a gallery's PNGs under their own names (``emoji-gan-food-drink-seed7.png``, ...)."""
    paths = [Path(item[0] if isinstance(item, (tuple, list)) else item) for item in items or []]
    if not paths:
        raise InvalidInputError("There are no images to download yet: generate some first.")
    archive = ctx.out_path(f"{paths[0].stem}-{len(paths)}-images", ".zip")
    names: set[str] = set()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for path in paths:
            name, n = path.name, 1
            while name in names:  # two files of one name (it should not happen) both go in
                n += 1
                name = f"{path.stem}-{n}{path.suffix}"
            names.add(name)
            zf.write(path, name)
    return str(archive)


#: "Surprise me" draws seeds below this: 5 digits fit a gallery caption ("seed 48213") and are easy to note
SURPRISE_SEEDS = 100_000
#: columns of the samples gallery (the app's CSS keeps them all on a phone)
GALLERY_COLUMNS = 4


def random_seed(rng: random.Random | None = None) -> int:
    """A fresh seed for "Surprise me", from the system's randomness unless ``rng``."""
    return (rng or random.SystemRandom()).randrange(SURPRISE_SEEDS)


def unselect() -> gr.Gallery:
    """New samples start unselected: the gallery would keep highlighting the old selection's place while
    "Selected" shows the first new sample, and "send to" sends that one. A step of its own, after the results:
    an update object returned by the API endpoints themselves would reach API clients as is."""
    return gr.Gallery(selected_index=None)


def selected_path(evt: gr.SelectData) -> str | None:
    """The file of the sample clicked in the gallery."""
    value = evt.value
    if isinstance(value, dict):
        value = value.get("image", {}).get("path") if isinstance(value.get("image"), dict) else value.get("path")
    return value


def select_all_js(elem_id: str) -> str:
    """Browser code that selects a label box's text when it is clicked, so that typing searches afresh
    ("food") instead of appending to the current label ("Smileys & Emotionfood", which matches nothing)."""
    return f"() => {{ const i = document.querySelector('#{elem_id} input'); if (i) i.select(); }}"


def model_handler(ctx: AppContext) -> Callable:
    """Another generator: its labels in both label boxes (hidden for a generator without labels), and truncation
    where it has one."""

    def on_model(model_id):
        spec = ctx.registry.get(model_id)
        labs = list(spec.labels)
        first = labs[0] if labs else None
        return (
            gr.Dropdown(choices=labs, value=first, visible=bool(labs)),
            gr.Dropdown(choices=labs, value=first, visible=bool(labs)),
            gr.Slider(visible=spec.truncation),
        )

    return on_model


def generate_handler(ctx: AppContext) -> Callable:
    """The Generate and "Surprise me" buttons' handler, the API's /generate."""

    @on_gpu(GENERATE_GPU_SECONDS)
    @friendly
    def on_generate(model_id, label, seed, count, truncation, progress=gr.Progress()):
        """Generate images with a GAN.

        Args:
            model_id: generator id (None or left out = the default).
            label: class name (any case, or a part that names one class) or index, for conditional generators.
            seed: integer seed of the first image; image i uses seed + i.
            count: number of images, 1 to 16.
            truncation: 0.02 to 1 (lower = more typical).
        """
        items = run_generate(ctx, model_id, label, seed, count, truncation, progress)
        return items, items[0][0]

    return on_generate


def interpolate_handler(ctx: AppContext) -> Callable:
    """The Interpolate button's handler, the API's /interpolate."""

    @on_gpu(GENERATE_GPU_SECONDS)
    @friendly
    def on_interpolate(model_id, label, label_b, seed, seed_b, frames, truncation, progress=gr.Progress()):
        """An animated WebP that morphs one generated image into another.

        Args:
            model_id: generator id (None or left out = the default).
            label: class of the first image (name, part of a name, or index).
            label_b: class of the last image (None = the same as label).
            seed: seed of the first image.
            seed_b: seed of the last image.
            frames: number of frames, 2 to 64.
            truncation: 0.02 to 1 (lower = more typical).
        """
        return run_interpolate(ctx, model_id, label, label_b, seed, seed_b, frames, truncation, progress=progress)

    return on_interpolate


def variations_handler(ctx: AppContext) -> Callable:
    """The Variations button's handler, the API's /variations."""

    @on_gpu(GENERATE_GPU_SECONDS)
    @friendly
    def on_variations(model_id, label, seed, count, strength, truncation, progress=gr.Progress()):
        """Images near one seed's image: its latent moved towards fresh noise by the given strength.

        Args:
            model_id: generator id (None or left out = the default).
            label: class name (any case, or a part that names one class) or index.
            seed: the seed whose image is varied.
            count: number of variations, 1 to 16.
            strength: 0 (the seed's own image) to 1 (unrelated images).
            truncation: 0.02 to 1 (lower = more typical).
        """
        items = run_variations(ctx, model_id, label, seed, count, strength, truncation, progress)
        return items, items[0][0]

    return on_variations


def zip_handler(ctx: AppContext) -> Callable:
    """New samples: "Download all" offers them as one ZIP."""

    @friendly
    def on_zip(items):
        return gr.DownloadButton(value=run_zip(ctx, items), visible=True)

    return on_zip


def opening_handler(ctx: AppContext, spec: ModelSpec | None) -> Callable:
    """The page load's handler: the samples the tab opens with, (gallery items, the first one's path).

    They are the default model's seeds 0 to DEFAULT_COUNT - 1 at the settings the tab shows (its first label,
    truncation 1), so pressing Generate gives them again. They are drawn on the first page load and kept for
    every later visitor (drawn again when their files were pruned). A model that cannot be loaded leaves the
    gallery empty, with a line in the log: a visitor who asked for nothing gets no error.
    """
    label = spec.labels[0] if spec is not None and spec.labels else None

    @on_gpu(GENERATE_GPU_SECONDS)
    def draw() -> list[tuple[str, str]]:
        return run_generate(ctx, spec.id, label, 0, DEFAULT_COUNT, 1.0)

    kept: list[tuple[str, str]] = []
    lock = threading.Lock()

    def on_load():
        if spec is None:
            return [], None
        with lock:
            if not kept or not all(Path(path).is_file() for path, _ in kept):
                try:
                    kept[:] = draw()
                except GanvasError as exc:
                    log.warning("the Generate tab opens without samples: %s", exc)
                    return [], None
        return list(kept), kept[0][0]

    return on_load


def _opening_zip(ctx: AppContext) -> Callable:
    """The opening samples' "Download all": offered when there are some, hidden (no message) otherwise."""
    on_zip = zip_handler(ctx)
    return lambda items: on_zip(items) if items else gr.DownloadButton(visible=False)


@dataclass
class _Controls:
    """The Generate tab's components, as its layout made them."""

    model: gr.Dropdown
    label: gr.Dropdown
    seed: gr.Number
    count: gr.Slider
    truncation: gr.Slider
    go: gr.Button
    surprise: gr.Button
    seed_b: gr.Number
    label_b: gr.Dropdown
    frames: gr.Slider
    interpolate: gr.Button
    strength: gr.Slider
    variations: gr.Button
    gallery: gr.Gallery
    download_all: gr.DownloadButton
    selected: gr.Image
    animation: gr.Image


def _intro(default: ModelSpec | None) -> None:
    """The line above the tab: how to use it, or why it cannot be used offline."""
    if default is None:
        gr.Markdown("**No image generator is installed yet.** Every other tab works offline.")
    elif default.needs_download:
        gr.Markdown(
            "No offline generator is installed in this version: the models here download their "
            "weights from the Hugging Face Hub on first use."
        )
    else:
        gr.Markdown(
            "Generate images with a GAN. The same seed always gives the same image. "
            "Lower truncation = more typical, less varied images. Click a sample to see it enlarged; "
            "files and downloads are PNG at the model's native size."
        )


def _label_box(labels: list[str], label: str, elem_id: str) -> gr.Dropdown:
    """A searchable class-label box (Generate's label, and the second label of an interpolation)."""
    return gr.Dropdown(
        labels,
        value=labels[0] if labels else None,
        label=label,
        visible=bool(labels),
        filterable=True,
        allow_custom_value=True,  # API callers pick any model's labels; ops checks them
        elem_id=elem_id,
    )


def _settings(ctx: AppContext, default: ModelSpec | None) -> dict:
    """The left column: model, label, seed and the buttons."""
    labels = list(default.labels) if default else []
    ready = default is not None
    c = dict(model=model_picker(ctx, Task.GENERATE, default, "generate-model"))
    c["label"] = _label_box(labels, "Label (type to search)", "gen-label")
    with gr.Row():
        c["seed"] = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=gen_ops.MAX_SEED)
        c["count"] = gr.Slider(1, gen_ops.MAX_COUNT, value=DEFAULT_COUNT, step=1, label="Count")
    c["truncation"] = gr.Slider(
        0.02, 1.0, value=1.0, step=0.02, label="Truncation", visible=bool(default and default.truncation)
    )
    with gr.Row():
        c["go"] = gr.Button("Generate", variant="primary", interactive=ready, scale=3, min_width=100, elem_id="gen-go")
        c["surprise"] = gr.Button(
            "\N{GAME DIE} Surprise me", interactive=ready, scale=1, min_width=120, elem_id="gen-surprise"
        )
    with gr.Accordion("Interpolate / variations", open=False):
        with gr.Row():
            c["seed_b"] = gr.Number(1, label="Second seed", precision=0, minimum=0, maximum=gen_ops.MAX_SEED)
            c["label_b"] = _label_box(labels, "Second label", "gen-label-b")
        c["frames"] = gr.Slider(2, 64, value=16, step=1, label="Frames")
        c["interpolate"] = gr.Button("Interpolate (animated WebP)", interactive=ready)
        c["strength"] = gr.Slider(0, 1, value=0.3, step=0.05, label="Variation strength")
        c["variations"] = gr.Button("Variations of the seed", interactive=ready)
    return c


def _samples() -> dict:
    """The right column: the gallery, its download, the enlarged sample and the animation."""
    return dict(
        gallery=gr.Gallery(
            label="Samples (click one to enlarge)",
            columns=GALLERY_COLUMNS,
            height=360,
            format="png",
            type="filepath",
            interactive=False,  # an input of "Download all" only; nobody uploads here
            object_fit="contain",
            elem_id="gen-gallery",
        ),
        download_all=gr.DownloadButton(
            "Download all (ZIP)", visible=False, size="sm", variant="secondary", elem_id="gen-download-all"
        ),
        selected=gr.Image(
            label="Selected (enlarged)",
            elem_id="gen-selected",
            type="filepath",
            format="png",
            image_mode="RGBA",
            interactive=False,
            height=256,
        ),
        animation=gr.Image(label="Interpolation", type="filepath", interactive=False, height=256),
    )


def build(ctx: AppContext) -> TabParts:
    """Lay out the tab inside the current gr.Tab and wire its events."""
    specs = ctx.registry.list(Task.GENERATE)
    default = ctx.defaults.spec(Task.GENERATE) or (specs[0] if specs else None)
    _intro(ctx.registry.default_for(Task.GENERATE) or default)  # the intro says whether an offline one exists
    with gr.Row():
        with gr.Column():
            settings = _settings(ctx, default)
        with gr.Column():
            samples = _samples()
    c = _Controls(**settings, **samples)
    _wire(ctx, c)

    def on_load(demo: gr.Blocks) -> None:
        """The tab opens with samples: a visitor sees what it does before pressing anything."""
        demo.load(opening_handler(ctx, default), None, [c.gallery, c.selected], api_visibility="private").success(
            _opening_zip(ctx), [c.gallery], [c.download_all], api_visibility="private"
        )

    return TabParts(result=c.selected, on_load=on_load)


def _wire(ctx: AppContext, c: _Controls) -> None:
    """The tab's events: samples, the label boxes' search, the gallery's selection and "Download all"."""
    c.model.change(model_handler(ctx), [c.model], [c.label, c.label_b, c.truncation], api_visibility="private")
    for dropdown in (c.label, c.label_b):
        dropdown.focus(None, None, None, js=select_all_js(dropdown.elem_id))
    on_generate = generate_handler(ctx)
    inputs, shown = [c.model, c.label, c.seed, c.count, c.truncation], [c.gallery, c.selected]
    new_samples = [
        c.go.click(on_generate, inputs, shown, api_name="generate", concurrency_id=MODEL),
        # a new random seed in the seed box (so the result can be made again), then the same generate
        c.surprise.click(random_seed, None, [c.seed], api_visibility="private").then(
            on_generate, inputs, shown, api_visibility="private", concurrency_id=MODEL
        ),
        c.variations.click(
            variations_handler(ctx),
            [c.model, c.label, c.seed, c.count, c.strength, c.truncation],
            shown,
            api_name="variations",
            concurrency_id=MODEL,
        ),
    ]
    on_zip = zip_handler(ctx)
    for event in new_samples:
        event.success(unselect, None, [c.gallery], api_visibility="private", queue=False).success(
            on_zip, [c.gallery], [c.download_all], api_visibility="private"
        )
    c.interpolate.click(
        interpolate_handler(ctx),
        [c.model, c.label, c.label_b, c.seed, c.seed_b, c.frames, c.truncation],
        [c.animation],
        api_name="interpolate",
        concurrency_id=MODEL,
    )
    c.gallery.select(selected_path, None, [c.selected], api_visibility="private")


TAB = Tab(id="generate", title=TITLE, build=build)
