"""Animated pictures (GIF, WebP, APNG) upscaled frame by frame into an animation of the same timing and loop.

Frames are decoded and upscaled one at a time: only one frame is ever held as float pixels; the upscaled frames
wait as 8-bit RGBA until the file is written, and their total is bounded by :data:`TOTAL_PIXELS_FACTOR`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import ImageTooLargeError, InvalidInputError
from core.image import from_numpy, max_pixels, to_numpy
from core.progress import Progress
from models.adapters import Upscaler
from ops.convert import decode, open_image
from ops.upscale import check_scale, target_size, upscale

#: the most frames an animation may have to be upscaled
MAX_FRAMES = 1000
#: all the upscaled frames together may hold this many times the working pixel limit (core.image.max_pixels):
#: they wait as 8-bit RGBA (4 bytes a pixel) until the file is written
TOTAL_PIXELS_FACTOR = 4
#: the file types that hold an animation, by suffix (an animated PNG is an APNG)
ANIMATED_SUFFIXES = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG"}
_NAMES = {"GIF": "GIF", "WEBP": "WebP", "PNG": "APNG"}
#: a GIF pixel at least this opaque is drawn, a fainter one is transparent (GIF has no partial transparency)
GIF_ALPHA_THRESHOLD = 128
_GIF_CLEAR = 255  # the palette index of transparency; 255 colours are left for the picture

log = logging.getLogger("ganvas")


@dataclass(frozen=True)
class Animation:
    """What an animated file's header says: its kind ("GIF", "WEBP" or "PNG"), frames, size and loop count
    (None: a GIF that plays once; 0: forever)."""

    name: str
    kind: str
    frames: int
    size: tuple[int, int]
    loop: int | None

    @property
    def kind_name(self) -> str:
        return _NAMES[self.kind]


@dataclass(frozen=True)
class Upscaled:
    """An upscaled animation as written: its path, frame count and frame size."""

    path: Path
    frames: int
    size: tuple[int, int]


def probe_animation(path: str | Path) -> Animation | None:
    """The animation at ``path`` from its header (the frames are counted, not decoded), or None for a still
    picture, and for a file of several pages that is no animation (a TIFF, an MPO)."""
    path = Path(path)
    with open_image(path) as img:
        if img.format not in _NAMES:
            return None
        frames = int(getattr(img, "n_frames", 1) or 1)
        if frames < 2:
            return None
        loop = img.info.get("loop")
        return Animation(path.name, img.format, frames, img.size, None if loop is None else int(loop))


def check_animation(anim: Animation, scale: float) -> tuple[int, int]:
    """The upscaled frame size (width, height); refuses an animation of more than :data:`MAX_FRAMES` frames, or
    whose upscaled frames together exceed :data:`TOTAL_PIXELS_FACTOR` times the working pixel limit."""
    s = check_scale(scale)
    out_w, out_h = target_size(*anim.size, s)
    if anim.frames > MAX_FRAMES:
        raise ImageTooLargeError(
            f"{anim.name} has {anim.frames} frames; Ganvas upscales animations of up to {MAX_FRAMES} frames. "
            "Shorten it first."
        )
    total, limit = out_w * out_h * anim.frames, TOTAL_PIXELS_FACTOR * max_pixels()
    if total > limit:
        raise ImageTooLargeError(
            f"{anim.name}: {anim.frames} frames of {out_w}x{out_h} make {total / 1e6:.3g} MP in all; Ganvas makes "
            f"animations of up to {limit / 1e6:.3g} MP in all here. Choose a smaller factor, or shorten or crop "
            "it first (whoever runs Ganvas can raise the limit with GANVAS_MAX_PIXELS, given the memory)."
        )
    return out_w, out_h


def animated_suffix_check(path: str | Path) -> str:
    """The kind ("GIF", "WEBP" or "PNG") an animation written to ``path`` will be; refuses another suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in ANIMATED_SUFFIXES:
        raise InvalidInputError(
            f"An animation is written as GIF, WebP or APNG: end {Path(path).name} in .gif, .webp or .png."
        )
    return ANIMATED_SUFFIXES[suffix]


def estimate_text(anim: Animation, seconds: float) -> str:
    """'anim.gif: 24 frames, about 40 s': the whole run's time, from ``seconds`` (the first frame's)."""
    total = seconds * anim.frames
    if total < 90:
        took = f"{max(1, round(total))} s"
    elif total < 5400:
        took = f"{round(total / 60)} min"
    else:
        took = f"{total / 3600:.1f} h"
    return f"{anim.name}: {anim.frames} frames, about {took}"


def upscale_animation(
    path: str | Path,
    model: Upscaler,
    scale: float,
    dst: str | Path,
    tile: int | None = None,
    progress: Progress | None = None,
    on_estimate: Callable[[str], None] | None = None,
    quality: int | None = None,
) -> Upscaled:
    """Upscale every frame of the animation at ``path`` and write them to ``dst`` (GIF, WebP or APNG by its
    suffix) with the source's frame durations and loop count. ``on_estimate(text)`` is told the frame count
    and the time the whole run will take once the first frame is done (:func:`estimate_text`). ``quality``
    (1-99) makes a WebP lossy; by default, or at 100, it is lossless."""
    anim = probe_animation(path)
    if anim is None:
        raise InvalidInputError(f"{Path(path).name} is not an animation.")
    out_size = check_animation(anim, scale)
    kind = animated_suffix_check(dst)
    frames: list[np.ndarray] = []
    durations: list[float] = []
    started = time.monotonic()
    with open_image(path) as img:
        for i in range(anim.frames):
            try:
                img.seek(i)
            except Exception as exc:  # a damaged frame sequence: Pillow raises SyntaxError, EOFError, OSError...
                log.info("seeking frame %d of %s failed: %r", i, anim.name, exc)
                raise InvalidInputError(
                    f"{anim.name} is damaged: frame {i + 1} of its {anim.frames} cannot be read. If another program "
                    "plays it, save it again from there."
                ) from exc
            decode(img, anim.name)
            durations.append(float(img.info.get("duration") or 0))
            rgba = np.asarray(img.convert("RGBA"))
            pixels = rgba if bool((rgba[..., 3] < 255).any()) else rgba[..., :3]
            span = None if progress is None else _frame_progress(progress, i, anim.frames)
            out = upscale(from_numpy(pixels), model, scale, tile=tile, progress=span)
            frames.append(_rgba(to_numpy(out, bit_depth=8)))
            if i == 0 and on_estimate is not None:
                on_estimate(estimate_text(anim, time.monotonic() - started))
        info = {k: img.info[k] for k in ("icc_profile", "exif") if img.info.get(k)}
    written = write_animation(frames, durations, _loop_for(anim, kind), dst, quality=quality, info=info)
    return Upscaled(written, len(frames), out_size)


def _frame_progress(progress: Progress, i: int, n: int) -> Progress:
    return lambda f, msg: progress((i + f) / n, f"frame {i + 1}/{n}: {msg}")


def _rgba(arr: np.ndarray) -> np.ndarray:
    """An HxWx3 or HxWx4 uint8 array as HxWx4."""
    if arr.shape[2] == 4:
        return arr
    return np.concatenate([arr, np.full((*arr.shape[:2], 1), 255, np.uint8)], axis=2)


def _loop_for(anim: Animation, kind: str) -> int | None:
    """The source's loop count in the terms of the output's kind: a GIF without a count plays once, which a
    WebP or an APNG says with 1."""
    if kind == "GIF":
        return None if anim.kind != "GIF" and anim.loop == 1 else anim.loop
    return 1 if anim.loop is None else anim.loop


def write_animation(
    frames: list[np.ndarray],
    durations: list[float],
    loop: int | None,
    dst: str | Path,
    quality: int | None = None,
    info: dict | None = None,
) -> Path:
    """Write HxWx4 uint8 ``frames`` as a GIF, WebP or APNG (by the suffix of ``dst``) with a duration in ms for
    each frame and ``loop`` (None: a GIF plays once; 0: forever). Frames without transparency are written
    without alpha; a GIF gets a palette of its own for each frame, with transparency where the frame has it."""
    dst = Path(dst)
    kind = animated_suffix_check(dst)
    opaque = all(bool((f[..., 3] == 255).all()) for f in frames)
    if kind == "GIF":
        images = [_gif_frame(f) for f in frames]
        kwargs: dict = {"disposal": 2, "optimize": False}
    else:
        images = [Image.fromarray(np.ascontiguousarray(f[..., :3]) if opaque else f) for f in frames]
        kwargs = dict(info or {})
        if kind == "WEBP":
            if quality is None or quality >= 100:
                kwargs["lossless"] = True
            else:
                kwargs["quality"] = int(quality)
    if loop is not None:
        kwargs["loop"] = int(loop)
    dst.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        dst,
        format=kind,
        save_all=True,
        append_images=images[1:],
        duration=[int(round(d)) for d in durations],
        **kwargs,
    )
    return dst


def _gif_frame(rgba: np.ndarray) -> Image.Image:
    """One frame as a palette image: up to 255 colours (all of them, exactly, where it has no more), and index
    255 transparent where the frame is clearer than :data:`GIF_ALPHA_THRESHOLD`."""
    shown = rgba[..., 3] >= GIF_ALPHA_THRESHOLD
    rgb = np.ascontiguousarray(rgba[..., :3])
    clear = not bool(shown.all())
    if clear and shown.any():  # hidden pixels take a shown colour, so that they use no palette entry
        rgb[~shown] = rgb[shown][0]
    quantized = Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = quantized.getpalette()[: 3 * 255]
    indices = np.asarray(quantized).copy()
    if clear:
        indices[~shown] = _GIF_CLEAR
    frame = Image.fromarray(indices, "P")
    frame.putpalette(palette + [0] * (768 - len(palette)))
    if clear:
        frame.info["transparency"] = _GIF_CLEAR
    return frame
