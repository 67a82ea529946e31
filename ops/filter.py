"""Restyle a picture with a filter network (a CycleGAN generator) at its own size, in tiles like upscaling.

The filter first measures what it needs from the whole picture (a CycleGAN's instance-norm statistics), then
runs tile by tile with that, blended as :mod:`ops.tiling` blends upscaled tiles at scale 1: so any size runs
in bounded memory, and a tiled result matches a one-piece one. Only the colour is filtered; alpha, bit depth,
EXIF, ICC and the other metadata are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from core.image import ImageData
from core.imaging import resample
from core.progress import DownloadProgress, Progress
from models.adapters import Filter
from models.registry import Task
from models.runtime import ModelCache
from ops.tiling import auto_tile_size, run_with_oom_backoff, tiled_apply
from ops.upscale import fill_transparent

#: Pixels of context shared by neighbouring tiles. A ResNet-9 CycleGAN sees about 90 px around each pixel, but
#: its output depends mostly on the nearest few: at 64 px a tiled result stays within a few 8-bit levels.
DEFAULT_OVERLAP = 64
#: Working memory per pixel assumed when the tile size is chosen (64 channels at full size, 256 at a quarter).
BYTES_PER_PIXEL = 4096

#: Most pixels the network itself runs on. A CycleGAN restyles at the scale it was trained at (256-512 px
#: crops), and on this CPU it costs about a minute per megapixel: a bigger picture is filtered at this size and
#: the change the filter made is carried to full size (see :func:`gan_filter`), so a 32 MP photo costs what
#: a 1 MP one does and keeps its own detail.
FILTER_PIXELS = 1_000_000

#: An edit recipe's filter step: (image, filter model id) -> the filtered image.
GanFilter = Callable[[ImageData, str], ImageData]


def gan_filter(
    image: ImageData,
    model: Filter,
    tile: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    progress: Progress | None = None,
    max_pixels: int | None = FILTER_PIXELS,
) -> ImageData:
    """``image`` restyled by ``model``. ``tile=None`` picks a tile from the device's memory (the whole image
    where it fits); out-of-memory halves it. Colours hidden under fully transparent pixels are replaced by the
    visible mean first, so they do not tint the edge or the measured tone. A picture over ``max_pixels`` (None:
    no bound) is filtered at that many pixels, and what the filter changed there, resized to full size, is
    added to the full-size picture: the tones and colours of the style on the photo's own detail."""
    rgb = image.rgb.float()
    if image.alpha is not None:
        rgb = fill_transparent(rgb, image.alpha)
    h, w = rgb.shape[-2:]
    if max_pixels and h * w > max_pixels:
        f = (max_pixels / (h * w)) ** 0.5
        small = resample(rgb, (max(1, round(h * f)), max(1, round(w * f))), "area")
        change = _filtered(small, model, tile, overlap, progress) - small
        out = rgb + resample(change, (h, w), "bilinear")  # rgb may be the input's own tensor: no in-place add
    else:
        out = _filtered(rgb, model, tile, overlap, progress)
    out = image.with_pixels(out)  # with_pixels clamps to [0, 1]
    return replace(out, grayscale=False) if out.grayscale else out


def _filtered(rgb, model: Filter, tile: int | None, overlap: int, progress: Progress | None):
    """``rgb`` (1,3,H,W) through the filter network at its own size, tiled."""
    context = model.context(rgb)
    h, w = rgb.shape[-2:]
    start = int(tile) if tile else auto_tile_size(model.device, 3, 1, BYTES_PER_PIXEL)
    start = max(1, min(start, max(h, w)))

    def run(t: int):
        return tiled_apply(
            lambda x: model(x, context),
            rgb,
            1,
            tile=t,
            overlap=overlap,
            progress=progress,
            size_multiple=model.spec.size_multiple,
            window="sine",
        )

    return run_with_oom_backoff(run, start)


def default_filter(models: Callable[[], ModelCache], download: DownloadProgress | None = None) -> GanFilter:
    """An edit recipe's filter step (the app's and the CLI's). ``models`` hands over the model cache, asked
    once, at the first filtered step; the step names its model (empty: the registry's default filter)."""
    cache: ModelCache | None = None

    def run(image: ImageData, model_id: str) -> ImageData:
        nonlocal cache
        if cache is None:
            cache = models()
        return gan_filter(image, cache.get(cache.registry.for_task(Task.FILTER, model_id).id, progress=download))

    return run
