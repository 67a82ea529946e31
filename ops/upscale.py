"""Upscale an image by any factor from 1 to 8 with a learned or classical upscaler.

A learned model runs once at its native factor (tiled, with OOM backoff), then the result is
resampled exactly to W*scale x H*scale, each rounded half up. There is deliberately no second model
pass when the target exceeds the native factor: the final resample covers the rest. A
resampler (``model.scale == 0``) resizes straight to the target size.
"""

from __future__ import annotations

import math

import torch

from core.errors import ImageTooLargeError, InvalidInputError
from core.image import ImageData, max_pixels
from core.imaging import resample
from core.progress import Progress
from models.adapters import Upscaler
from ops.tiling import MIN_TILE, auto_tile_size, run_with_oom_backoff, tiled_apply

MIN_SCALE = 1.0
MAX_SCALE = 8.0
#: The largest automatic tile on a CPU, in input pixels: on one thread, 512x512 in, Ganvas SR x2 took 0.45 CPU s
#: per output MP in tiles of about 264 px against 0.82 in one 512 px piece (SPAN x2 2.52 against 2.65, SPAN x4
#: 0.51 against 0.54): a tile's activations must stay near the cache. Larger tiles only save overlap, which
#: equal tiles keep small (ops.tiling).
CPU_MAX_TILE = 384
#: The model's native-factor intermediate (a x4 model asked for x2 makes a x4 image first) may be this many
#: times larger than the working limit.
INTERMEDIATE_FACTOR = 2


def target_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) of the upscaled image: each side rounded half up (Python's round() takes halves to
    the even side, so 3 px at x1.5 gave 4 but 5 px gave 8), at least 1."""
    return max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5))


def check_tile(tile: int | None) -> None:
    """The app's and the CLI's check of a tile size asked for: 0 / None (automatic) or at least MIN_TILE.
    Smaller tiles are mostly overlap: 10x slower at 1 px, and their seams show (up to 12/255). (upscale()
    itself takes any positive size, which the tests use to tile tiny images.)"""
    if tile is not None and (int(tile) < 0 or 0 < int(tile) < MIN_TILE):
        raise InvalidInputError(f"Tile size must be 0 (automatic) or at least {MIN_TILE} pixels, not {tile}.")


def check_scale(scale: float) -> float:
    """``scale`` as a float from MIN_SCALE to MAX_SCALE, or a plain error."""
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise InvalidInputError(f"The upscale factor must be a number, got {scale!r}.") from None
    if not math.isfinite(s) or not MIN_SCALE <= s <= MAX_SCALE:
        raise InvalidInputError(f"The upscale factor must be between {MIN_SCALE:g} and {MAX_SCALE:g}, got {scale}.")
    return s


def fill_transparent(rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Replace colours under fully transparent pixels with the alpha-weighted mean colour.

    Hidden colours are often black; left as they are they would bleed dark into the visible
    edge when the model or the resampler mixes neighbours.
    """
    clear = alpha <= 0
    if not bool(clear.any()):
        return rgb
    weight = alpha.sum()
    mean = (rgb * alpha).sum(dim=(2, 3), keepdim=True) / weight if weight > 0 else rgb.mean(dim=(2, 3), keepdim=True)
    return torch.where(clear, mean.expand_as(rgb), rgb)


def _progress_span(progress: Progress | None, start: float, span: float, what: str) -> Progress | None:
    if progress is None:
        return None
    return lambda f, msg: progress(start + span * f, f"{what}: {msg}")


def _run_model(
    model: Upscaler,
    x: torch.Tensor,
    size: tuple[int, int],
    tile: int | None,
    overlap: int,
    progress: Progress | None,
    final_filter: str,
) -> torch.Tensor:
    """(1,3,H,W) -> (1,3,*size) through the model at its native factor, then an exact resample."""
    if model.scale == 0:
        out = model.resize(x, size)
        if progress is not None:
            progress(1.0, "resampled")
        return out
    h, w = x.shape[-2:]
    spec = model.spec
    if spec.tiling == "supported":
        start = tile if tile is not None else auto_tile_size(model.device, x.shape[1], model.scale)
        if tile is None and torch.device(model.device).type == "cpu":
            start = min(start, CPU_MAX_TILE)
    else:
        start = tile if tile is not None else max(h, w)  # tile only when memory forces it
    start = max(1, min(int(start), max(h, w)))

    def run(t: int) -> torch.Tensor:
        return tiled_apply(
            model, x, model.scale, tile=t, overlap=overlap, progress=progress, size_multiple=spec.size_multiple
        )

    y = run_with_oom_backoff(run, start)
    return resample(y, size, final_filter)


def upscale(
    image: ImageData,
    model: Upscaler,
    scale: float,
    tile: int | None = None,
    overlap: int = 16,
    progress: Progress | None = None,
    final_filter: str = "bicubic",
    max_output_pixels: int | None = None,
) -> ImageData:
    """Upscale ``image`` by ``scale`` (1..8) keeping alpha, grayscale, bit depth, EXIF and ICC.

    A non-constant alpha goes through the model too (replicated to 3 channels, averaged back),
    as Real-ESRGAN does; a constant alpha stays constant. ``tile=None`` (or 0) picks a tile size from
    the device's free memory; out-of-memory halves it. ``progress(fraction, message)`` is
    called as tiles finish.
    """
    s = check_scale(scale)
    if tile is not None and int(tile) < 0:
        raise InvalidInputError(f"Tile size must be 0 (automatic) or a positive number of pixels, not {tile}.")
    tile = int(tile) if tile else None  # 0 = automatic, as in the app
    out_w, out_h = target_size(image.width, image.height, s)
    max_output_pixels = max_output_pixels or max_pixels()
    if out_w * out_h > max_output_pixels:
        raise ImageTooLargeError(
            f"Upscaling {image.width}x{image.height} by {s:g} gives {out_w}x{out_h} "
            f"({out_w * out_h / 1e6:.0f} MP); Ganvas makes images of up to {max_output_pixels / 1e6:.0f} MP here. "
            "Choose a smaller factor or crop the image first (whoever runs Ganvas can raise the limit with "
            "GANVAS_MAX_PIXELS, given the memory)."
        )
    native = image.width * image.height * model.scale**2
    if native > INTERMEDIATE_FACTOR * max_output_pixels:
        raise ImageTooLargeError(
            f"This model always enlarges {model.scale} times first, which would make a "
            f"{native / 1e6:.0f} MP intermediate image from this one. Use a model with a smaller "
            "native factor or a classical resampler, or crop the image first."
        )
    size = (out_h, out_w)
    alpha = image.alpha
    alpha_varies = alpha is not None and float(alpha.max() - alpha.min()) > 1e-6
    rgb = image.rgb.float()
    if alpha is not None:
        rgb = fill_transparent(rgb, alpha)

    rgb_span = 0.5 if alpha_varies else 1.0
    out_rgb = _run_model(
        model, rgb, size, tile, overlap, _progress_span(progress, 0.0, rgb_span, "colour"), final_filter
    ).clamp(0, 1)
    if image.grayscale:
        out_rgb = out_rgb.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()

    out_alpha: torch.Tensor | None = None
    if alpha_varies:
        a3 = alpha.float().expand(-1, 3, -1, -1).contiguous()
        out_a3 = _run_model(
            model, a3, size, tile, overlap, _progress_span(progress, 0.5, 0.5, "transparency"), final_filter
        )
        out_alpha = out_a3.mean(dim=1, keepdim=True).clamp(0, 1)
    elif alpha is not None:
        out_alpha = torch.full((1, 1, out_h, out_w), float(alpha.flatten()[0]), dtype=torch.float32)
    return image.with_pixels(out_rgb, out_alpha)
