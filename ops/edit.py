"""The edit tab's operations and the recipe that records them, so the CLI replays an edit exactly.

Every operation takes and returns :class:`ImageData` and keeps its bit depth, grayscale flag,
EXIF and ICC profile. Colours are floats in [0, 1]. A :class:`Recipe` is an ordered list of
steps (plain JSON-ready dicts) validated against the single table :data:`OPS`.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import ImageTooLargeError, InvalidInputError, quoted
from core.image import ImageData, check_pixels
from core.imaging import RESAMPLE_FILTERS, luma, resample
from models.catalog import list_models
from models.registry import Task
from ops.convert import decode, from_pil, open_image
from ops.cutout import MAX_FEATHER, MAX_GROW, Cutter, Refine
from ops.filter import GanFilter
from ops.inpaint import alpha_from_surroundings

Inpaint = Callable[[ImageData, torch.Tensor], ImageData]

RECIPE_VERSION = 1
FLIP_DIRECTIONS = ("horizontal", "vertical")
#: What "remove background" puts behind the subject.
BACKDROPS = ("transparent", "colour", "blur", "image")
#: Blur (Gaussian sigma, pixels) of the photo behind its subject when a step gives none.
DEFAULT_BACKDROP_BLUR = 16.0
#: Alpha above which a pixel belongs to the subject when cropping to it (half an 8-bit step).
_SUBJECT_ALPHA = 0.5 / 255
MAX_BLUR_SIGMA = 100.0
MAX_SHARPEN = 100.0  # far past visible use (the Edit tab's slider stops at 5); larger amounts overflow float32
#: Whole numbers past this (2**53, where floats stop counting in ones) are no size, offset or angle an image has.
_MAX_INT = 2**53
#: The filter models a recipe's gan_filter step may name.
FILTER_MODELS = tuple(s.id for s in list_models(Task.FILTER))
_HEX_RE = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_EPS = 1e-6


# ------------------------------------------------------------------------------------- helpers


def _number(value: Any, what: str) -> float:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
        raise InvalidInputError(f"{what} is too large (a number of {value.bit_length()} bits).")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a number (got {quoted(value)}).")
    return float(value)


def _in_range(value: Any, what: str, lo: float, hi: float) -> float:
    v = _number(value, what)
    if not lo <= v <= hi:
        raise InvalidInputError(f"{what} must be between {lo:g} and {hi:g} (got {v:g}).")
    return v


def _integer(value: Any, what: str) -> int:
    v = _number(value, what)
    if v != int(v):
        raise InvalidInputError(f"{what} must be a whole number (got {quoted(value)}).")
    return int(v)


def parse_colour(value: Any, channels: int = 3) -> tuple[float, ...]:
    """A colour as ``channels`` floats in [0, 1] from a sequence of floats or a "#rrggbb[aa]" string.

    With ``channels == 4`` a colour without alpha is opaque.
    """
    if isinstance(value, str):
        m = _HEX_RE.match(value.strip())
        if not m or (channels == 3 and len(m.group(1)) == 8):
            form = '"#rrggbb" or "#rrggbbaa"' if channels == 4 else '"#rrggbb"'
            raise InvalidInputError(f"{quoted(value)} is not a colour; write it as {form} or as numbers from 0 to 1.")
        digits = m.group(1)
        vals = [int(digits[i : i + 2], 16) / 255 for i in range(0, len(digits), 2)]
    elif isinstance(value, (list, tuple)):
        vals = [_in_range(v, "Each colour component", 0.0, 1.0) for v in value]
    else:
        raise InvalidInputError(f'{quoted(value)} is not a colour; give {channels} numbers from 0 to 1 or "#rrggbb".')
    if channels == 4 and len(vals) == 3:
        vals.append(1.0)
    if len(vals) != channels:
        raise InvalidInputError(f"A colour here has {channels} components (got {len(vals)}).")
    return tuple(float(v) for v in vals)


def _is_gray(colour: tuple[float, ...]) -> bool:
    return colour[0] == colour[1] == colour[2]


def _as_mask(mask: torch.Tensor, img: ImageData) -> torch.Tensor:
    """The region (>0.5) as a bool (1,1,H,W) tensor matching the image."""
    if not isinstance(mask, torch.Tensor):
        raise InvalidInputError("The region mask must be a tensor.")
    m = mask.detach().float().cpu()
    while m.ndim < 4:
        m = m.unsqueeze(0)
    if m.ndim != 4 or m.shape[:2] != (1, 1) or tuple(m.shape[2:]) != (img.height, img.width):
        raise InvalidInputError(
            f"The region mask is {m.shape[-1]}x{m.shape[-2]} but the image is {img.width}x{img.height}."
        )
    return m > 0.5


def _clip_box(img_w: int, img_h: int, left: Any, top: Any, width: Any, height: Any) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the box clipped to the image; raises if nothing of it is left."""
    left, top = _integer(left, "The left edge"), _integer(top, "The top edge")
    width, height = _integer(width, "The width"), _integer(height, "The height")
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"The box must have a positive width and height (got {width}x{height}).")
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, img_w), min(top + height, img_h)
    if x1 <= x0 or y1 <= y0:
        raise InvalidInputError(
            f"The box at ({left}, {top}) of size {width}x{height} lies outside the {img_w}x{img_h} image."
        )
    return x0, y0, x1, y1


def rect_mask(img: ImageData, left: int, top: int, width: int, height: int) -> torch.Tensor:
    """A (1,1,H,W) mask of a rectangle clipped to the image (1 inside), for erase and fill."""
    x0, y0, x1, y1 = _clip_box(img.width, img.height, left, top, width, height)
    m = torch.zeros(1, 1, img.height, img.width)
    m[..., y0:y1, x0:x1] = 1.0
    return m


def mask_to_b64png(mask: torch.Tensor) -> str:
    """A mask (>0.5 = region) as a base64 1-bit PNG (white = region) to store inside a recipe."""
    m = mask.detach().float().cpu()
    if m.ndim < 2 or any(s != 1 for s in m.shape[:-2]):
        raise InvalidInputError(f"A mask must be (H,W) or (1,1,H,W), got {tuple(m.shape)}.")
    arr = (m.reshape(m.shape[-2:]).numpy() > 0.5).astype(np.uint8) * 255
    buf = io.BytesIO()
    Image.fromarray(arr, "L").convert("1").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _b64_bytes(s: str, what: str = "The mask") -> bytes:
    text = s.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{what} is not valid base64 text.") from exc
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidInputError(f"{what} is not a PNG image.")
    return raw


def mask_from_b64png(s: str) -> torch.Tensor:
    """Decode :func:`mask_to_b64png` (or any base64 grayscale PNG) to a (1,1,H,W) float mask in [0,1]."""
    if not isinstance(s, str):
        raise InvalidInputError("The mask must be base64 text of a PNG image.")
    raw = _b64_bytes(s)
    # the header first (an image, within the working limit), then the pixels (whole): our words for each
    with open_image(io.BytesIO(raw), name="The mask PNG") as im:
        decode(im, "The mask PNG")
        arr = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None, None].contiguous()


def image_from_b64png(s: str, what: str = "The background image") -> ImageData:
    """A base64 PNG (as a recipe carries a picture) as :class:`ImageData`, within the working pixel limit."""
    if not isinstance(s, str):
        raise InvalidInputError(f"{what} must be base64 text of a PNG image.")
    with open_image(io.BytesIO(_b64_bytes(s, what)), name=what) as im:
        decode(im, what)
        return from_pil(im)


def image_to_b64png(img: Image.Image) -> str:
    """A picture as base64 PNG text, to store inside a recipe."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------ geometry


def crop(img: ImageData, left: int, top: int, width: int, height: int) -> ImageData:
    """Cut out a box; the part of the box outside the image is dropped (an empty result is an error)."""
    x0, y0, x1, y1 = _clip_box(img.width, img.height, left, top, width, height)
    alpha = None if img.alpha is None else img.alpha[..., y0:y1, x0:x1].contiguous()
    return img.with_pixels(img.rgb[..., y0:y1, x0:x1].contiguous(), alpha)


def pad(
    img: ImageData,
    left: int = 0,
    top: int = 0,
    right: int = 0,
    bottom: int = 0,
    fill: tuple[float, float, float, float] = (0, 0, 0, 0),
) -> ImageData:
    """Grow the canvas by margins of ``fill`` (RGBA; transparent by default, which adds an alpha channel).

    The image's own pixels are copied exactly; a content-aware fill of the transparent margins
    (``fill`` with ``transparent``) then extends the picture past its edges.
    """
    margins = [_integer(v, f"The {name} margin") for v, name in ((left, "left"), (top, "top"), (right, "right"))]
    margins.append(_integer(bottom, "The bottom margin"))
    if min(margins) < 0:
        raise InvalidInputError(f"Margins cannot be negative (got {margins}); use crop to cut the image.")
    ml, mt, mr, mb = margins
    width, height = img.width + ml + mr, img.height + mt + mb
    check_pixels(width, height, "The image with its margins")
    fill_c = parse_colour(fill, 4)
    rgb = torch.tensor(fill_c[:3], dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, height, width).clone()
    rgb[..., mt : mt + img.height, ml : ml + img.width] = img.rgb
    alpha = None
    if img.alpha is not None or fill_c[3] < 1:
        alpha = torch.full((1, 1, height, width), float(fill_c[3]))
        alpha[..., mt : mt + img.height, ml : ml + img.width] = 1.0 if img.alpha is None else img.alpha
    out = img.with_pixels(rgb, alpha)
    if img.grayscale and not (fill_c[3] == 0 or _is_gray(fill_c)):
        out = replace(out, grayscale=False)
    return out


def flip(img: ImageData, direction: str) -> ImageData:
    """Mirror left-right ("horizontal") or top-bottom ("vertical")."""
    if direction not in FLIP_DIRECTIONS:
        raise InvalidInputError(f"Flip direction must be horizontal or vertical (got {quoted(direction)}).")
    dim = 3 if direction == "horizontal" else 2
    alpha = None if img.alpha is None else img.alpha.flip(dim)
    return img.with_pixels(img.rgb.flip(dim), alpha)


def rotate(
    img: ImageData, angle: float, expand: bool = True, fill: tuple[float, float, float, float] = (0, 0, 0, 0)
) -> ImageData:
    """Rotate counter-clockwise by ``angle`` degrees; uncovered corners get ``fill`` (RGBA).

    Multiples of 90 move pixels exactly; other angles sample bilinearly with antialiased edges.
    ``expand`` grows the canvas to hold the whole rotated image, otherwise the size is kept.
    """
    angle = _number(angle, "The angle")
    fill_c = parse_colour(fill, 4)
    fill_rgb = torch.tensor(fill_c[:3], dtype=torch.float32).view(1, 3, 1, 1)
    fill_a = fill_c[3]
    turned = angle % 360.0
    if turned == 0:
        return img.with_pixels(img.rgb, img.alpha)
    grayscale = img.grayscale and (fill_a == 0 or _is_gray(fill_c))
    if turned % 90.0 == 0:
        out = _rotate_quarter(img, int(turned // 90), expand, fill_rgb, fill_a)
    else:
        out = _rotate_any(img, angle, expand, fill_rgb, fill_a)
    return out if out.grayscale == grayscale else replace(out, grayscale=grayscale)


def _rotate_quarter(img: ImageData, k: int, expand: bool, fill_rgb: torch.Tensor, fill_a: float) -> ImageData:
    rgb = torch.rot90(img.rgb, k, dims=(2, 3))
    alpha = None if img.alpha is None else torch.rot90(img.alpha, k, dims=(2, 3))
    h, w = img.height, img.width
    if expand or rgb.shape[-2:] == (h, w):
        return img.with_pixels(rgb.contiguous(), None if alpha is None else alpha.contiguous())
    # Size kept on a non-square image: paste the turned image centred on a canvas of fill.
    h2, w2 = rgb.shape[-2:]
    (dy, sy, ny), (dx, sx, nx) = _centre(h, h2), _centre(w, w2)
    out_rgb = fill_rgb.expand(1, 3, h, w).clone()
    out_rgb[..., dy : dy + ny, dx : dx + nx] = rgb[..., sy : sy + ny, sx : sx + nx]
    if alpha is None and fill_a >= 1:
        return img.with_pixels(out_rgb, None)
    out_a = torch.full((1, 1, h, w), fill_a)
    out_a[..., dy : dy + ny, dx : dx + nx] = 1.0 if alpha is None else alpha[..., sy : sy + ny, sx : sx + nx]
    return img.with_pixels(out_rgb, out_a)


def _centre(dst: int, src: int) -> tuple[int, int, int]:
    """(destination start, source start, length) to centre ``src`` pixels in ``dst``, cropping if bigger."""
    off = (dst - src) // 2
    d0, s0 = max(off, 0), max(-off, 0)
    return d0, s0, min(src - s0, dst - d0)


def _rotate_any(img: ImageData, angle: float, expand: bool, fill_rgb: torch.Tensor, fill_a: float) -> ImageData:
    h, w = img.height, img.width
    theta = math.radians(angle)
    c, s = math.cos(theta), math.sin(theta)
    if expand:
        out_w = max(1, math.ceil(w * abs(c) + h * abs(s) - 1e-6))
        out_h = max(1, math.ceil(w * abs(s) + h * abs(c) - 1e-6))
        check_pixels(out_w, out_h, "The rotated image")
    else:
        out_w, out_h = w, h
    xs = torch.arange(out_w, dtype=torch.float64) + 0.5 - out_w / 2
    ones = torch.ones_like(img.rgb[:, :1])
    stack = [img.rgb, ones] if img.alpha is None else [img.rgb * img.alpha, img.alpha, ones]
    source = torch.cat(stack, 1)
    del stack, ones
    opaque = img.alpha is None and fill_a >= 1
    out_rgb = torch.empty(1, 3, out_h, out_w)
    out_a = None if opaque else torch.empty(1, 1, out_h, out_w)
    # Bands of output rows: each pixel is sampled on its own, so the result is the same as in one piece, and
    # the sampling grid and its temporaries stay the size of one band.
    rows = _band_rows(out_w)
    for r0 in range(0, out_h, rows):
        r1 = min(out_h, r0 + rows)
        ys = torch.arange(r0, r1, dtype=torch.float64) + 0.5 - out_h / 2
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        # Inverse map (y points down): an output offset turned back clockwise gives the source offset.
        src_x = xx * c - yy * s + w / 2
        src_y = xx * s + yy * c + h / 2
        grid = torch.stack([2 * src_x / w - 1, 2 * src_y / h - 1], dim=-1)[None].float()
        sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        premul, cover = sampled[:, :3], sampled[:, -1:]
        if opaque:
            out_rgb[..., r0:r1, :] = premul + (1 - cover) * fill_rgb
            continue
        src_a = cover if img.alpha is None else sampled[:, 3:4]
        band_a = src_a + (1 - cover) * fill_a
        band_p = premul + (1 - cover) * fill_rgb * fill_a
        out_rgb[..., r0:r1, :] = torch.where(band_a > _EPS, band_p / band_a.clamp_min(_EPS), fill_rgb.expand_as(band_p))
        out_a[..., r0:r1, :] = band_a
    return img.with_pixels(out_rgb, out_a)


def _band_rows(width: int, pixels: int = 1 << 20) -> int:
    """Rows per band for work done band by band: about ``pixels`` pixels a band."""
    return max(1, pixels // max(1, width))


def resize(img: ImageData, width: int, height: int, method: str = "lanczos") -> ImageData:
    """Resample to width x height with one of RESAMPLE_FILTERS; alpha is premultiplied so edges keep their colour."""
    width, height = _integer(width, "The width"), _integer(height, "The height")
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"The new size must be positive (got {width}x{height}).")
    check_pixels(width, height, "The resized image")
    if method not in RESAMPLE_FILTERS:
        raise InvalidInputError(f"Unknown filter {quoted(method)}; choose one of: {', '.join(RESAMPLE_FILTERS)}.")
    size = (height, width)
    if img.alpha is None:
        return img.with_pixels(resample(img.rgb, size, method), None)
    if method == "nearest":
        return img.with_pixels(resample(img.rgb, size, method), resample(img.alpha, size, method))
    both = resample(torch.cat([img.rgb * img.alpha, img.alpha, img.rgb], 1), size, method)
    premul, alpha, plain = both[:, :3], both[:, 3:4], both[:, 4:]
    # Where nothing visible remains the colour is undefined: keep the straight resample there.
    rgb = torch.where(alpha > 1 / 512, premul / alpha.clamp_min(1 / 512), plain)
    return img.with_pixels(rgb, alpha)


# ---------------------------------------------------------------------------------- regions


def _paint(img: ImageData, region: torch.Tensor, colour: tuple[float, ...]) -> ImageData:
    """Region set to an opaque colour (the image loses its grayscale flag for a coloured paint)."""
    c = torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1)
    rgb = torch.where(region, c, img.rgb)
    alpha = None if img.alpha is None else torch.where(region, torch.ones_like(img.alpha), img.alpha)
    out = img.with_pixels(rgb, alpha)
    if img.grayscale and not _is_gray(colour):
        out = replace(out, grayscale=False)
    return out


def erase(img: ImageData, mask: torch.Tensor, colour: tuple[float, float, float] | None = None) -> ImageData:
    """Make the masked region (>0.5) transparent (adding an alpha channel), or paint it an opaque colour."""
    region = _as_mask(mask, img)
    if colour is not None:
        return _paint(img, region, parse_colour(colour, 3))
    alpha = img.alpha if img.alpha is not None else torch.ones_like(img.rgb[:, :1])
    return img.with_pixels(img.rgb, torch.where(region, torch.zeros_like(alpha), alpha))


def fill(
    img: ImageData, mask: torch.Tensor, colour: tuple[float, float, float] | None = None, inpaint: Inpaint | None = None
) -> ImageData:
    """Fill the masked region with a colour, or (colour None) content-aware through ``inpaint``.

    Only region pixels change. A colour fill is opaque. A content-aware fill takes the region's
    transparency from its surroundings as well as its colour: a hole erased in a photo, or the
    transparent corners of a rotated one, come back opaque; a region in a sticker's transparent
    background stays transparent (inpainters never fill alpha themselves).
    """
    region = _as_mask(mask, img)
    if colour is not None:
        return _paint(img, region, parse_colour(colour, 3))
    if inpaint is None:
        raise InvalidInputError("A content-aware fill needs an inpainting model; give a colour instead or load one.")
    if not bool(region.any()):
        return img
    res = inpaint(img, region.float())
    if not isinstance(res, ImageData):
        raise InvalidInputError("The inpainting model did not return an image.")
    if res.size != img.size:
        raise InvalidInputError(
            f"The inpainting model returned {res.width}x{res.height} for a {img.width}x{img.height} image."
        )
    rgb = torch.where(region, res.rgb.float(), img.rgb)
    alpha = img.alpha
    if alpha is not None:
        alpha = torch.where(region, alpha_from_surroundings(alpha, region), alpha)
    return img.with_pixels(rgb, alpha)


# ----------------------------------------------------------------------------------- tones


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with edge pixels repeated outwards, band by band of rows (each band reads the
    rows the kernel reaches past it), so the padded copies stay the size of one band."""
    radius = max(1, math.ceil(3 * sigma))
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(k**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).float()
    c, h = x.shape[1], x.shape[-2]
    across = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    down = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    out = torch.empty_like(x)
    rows = max(_band_rows(x.shape[-1]), radius)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        lo, hi = max(0, r0 - radius), min(h, r1 + radius)
        y = F.conv2d(F.pad(x[..., lo:hi, :], (radius, radius, 0, 0), mode="replicate"), across, groups=c)
        y = F.pad(y, (0, 0, radius - (r0 - lo), radius - (hi - r1)), mode="replicate")
        out[..., r0:r1, :] = F.conv2d(y, down, groups=c)
    return out


def _blur_visible(rgb: torch.Tensor, alpha: torch.Tensor | None, sigma: float) -> torch.Tensor:
    """Blur colours weighted by alpha so hidden colours of transparent pixels do not bleed in."""
    if alpha is None:
        return _gaussian(rgb, sigma)
    both = _gaussian(torch.cat([rgb * alpha, alpha, rgb], 1), sigma)
    num, den, plain = both[:, :3], both[:, 3:4], both[:, 4:]
    return torch.where(den > _EPS, num / den.clamp_min(_EPS), plain)


def adjust(
    img: ImageData,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    gamma: float = 1.0,
    sharpen: float = 0.0,
    blur: float = 0.0,
) -> ImageData:
    """Tone and detail adjustments, applied in this order; alpha is untouched, defaults change nothing.

    brightness adds; contrast scales about 0.5 by (1 + contrast); saturation scales the
    distance from Rec.601 luma by (1 + saturation); out = in ** (1 / gamma); blur is a Gaussian
    of that sigma in pixels; sharpen is the amount of an unsharp mask of radius 1 px.
    """
    brightness = _in_range(brightness, "Brightness", -1.0, 1.0)
    contrast = _in_range(contrast, "Contrast", -1.0, 1.0)
    saturation = _in_range(saturation, "Saturation", -1.0, 1.0)
    gamma = _number(gamma, "Gamma")
    if gamma <= 0:
        raise InvalidInputError(f"Gamma must be greater than 0 (got {gamma:g}).")
    sharpen = _in_range(sharpen, "Sharpen", 0.0, MAX_SHARPEN)
    blur = _in_range(blur, "Blur", 0.0, MAX_BLUR_SIGMA)
    if (brightness, contrast, saturation, gamma, sharpen, blur) == (0.0, 0.0, 0.0, 1.0, 0.0, 0.0):
        return img
    x = img.rgb.clone()  # one working copy, changed in place by each adjustment
    if brightness:
        x.add_(brightness).clamp_(0, 1)
    if contrast:
        x.sub_(0.5).mul_(1 + contrast).add_(0.5).clamp_(0, 1)
    if saturation:
        gray = luma(x)
        x.sub_(gray).mul_(1 + saturation).add_(gray).clamp_(0, 1)
        del gray
    if gamma != 1.0:
        x.pow_(1 / gamma)
    if blur:
        x = _blur_visible(x, img.alpha, blur).clamp_(0, 1)
    if sharpen:
        # x + sharpen * (x - blurred), computed in the blurred copy
        x = _blur_visible(x, img.alpha, 1.0).neg_().add_(x).mul_(sharpen).add_(x).clamp_(0, 1)
    return img.with_pixels(x)


# ------------------------------------------------------------------------------ background


def _cover(backdrop: ImageData, width: int, height: int) -> torch.Tensor:
    """``backdrop``'s RGB scaled to cover ``width`` x ``height`` (aspect kept) and centred; its transparent
    parts show black, as a picture laid on nothing does."""
    f = max(width / backdrop.width, height / backdrop.height)
    w, h = max(width, math.ceil(backdrop.width * f)), max(height, math.ceil(backdrop.height * f))
    check_pixels(w, h, "The background image, scaled to cover the photo,")
    rgb = backdrop.rgb if backdrop.alpha is None else backdrop.rgb * backdrop.alpha
    x0, y0 = (w - width) // 2, (h - height) // 2
    return resample(rgb, (h, w), "bicubic")[..., y0 : y0 + height, x0 : x0 + width].clamp(0, 1)


def subject_box(img: ImageData) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the pixels of ``img`` that show (alpha above half an 8-bit step)."""
    if img.alpha is None:
        return 0, 0, img.width, img.height
    shown = img.alpha[0, 0] > _SUBJECT_ALPHA
    rows, cols = torch.nonzero(shown.any(1)).flatten(), torch.nonzero(shown.any(0)).flatten()
    if rows.numel() == 0:
        raise InvalidInputError("No subject was found to crop to: the cut-out is empty. Try a box around it.")
    top, left = int(rows[0]), int(cols[0])
    return left, top, int(cols[-1]) - left + 1, int(rows[-1]) - top + 1


def remove_background(
    img: ImageData,
    cutter: Cutter,
    box: list[int] | None = None,
    backdrop: str = "transparent",
    colour: Any = None,
    blur: float | None = None,
    image_png: str | None = None,
    crop_to_subject: bool = False,
    grow: int = 0,
    feather: float = 0.0,
) -> ImageData:
    """The subject of ``img`` (inside ``box`` when given) cut out by ``cutter`` and laid on ``backdrop``:
    nothing (transparent), a ``colour``, the photo itself blurred by ``blur`` pixels, or another picture
    (``image_png``, scaled to cover); then cropped to the subject if asked. A transparent result keeps the
    matte as alpha; the others are opaque where the input was."""
    cut = cutter(img, tuple(box) if box else None, Refine(grow=grow, feather=feather))
    if crop_to_subject:
        x, y, w, h = subject_box(cut)
        img, cut = crop(img, x, y, w, h), crop(cut, x, y, w, h)
    if backdrop == "transparent":
        return cut
    if backdrop == "colour":
        behind = torch.tensor(parse_colour(colour, 3)[:3], dtype=torch.float32).view(1, 3, 1, 1)
    elif backdrop == "blur":
        behind = _blur_visible(img.rgb, img.alpha, DEFAULT_BACKDROP_BLUR if blur is None else float(blur))
    else:
        behind = _cover(image_from_b64png(image_png), img.width, img.height)
    a = cut.alpha if cut.alpha is not None else torch.ones_like(cut.rgb[:, :1])
    rgb = (cut.rgb * a).add_(behind * (1 - a))
    return cut.with_pixels(rgb, img.alpha)


def restyle(img: ImageData, gan_filter: GanFilter, model: str = "") -> ImageData:
    """The picture through a filter network: ``model`` names it (empty: the default filter)."""
    return gan_filter(img, model)


# ---------------------------------------------------------------------------- the op table


class Param(NamedTuple):
    """One recipe parameter: its kind (how JSON values are checked), whether required, and limits."""

    kind: str  # int | number | bool | choice | rgb | rgba | rect | mask
    required: bool = False
    lo: float = -math.inf
    hi: float = math.inf
    choices: tuple[str, ...] = ()
    doc: str = ""


class OpSpec(NamedTuple):
    """An edit: the function that does it and the parameters a recipe step may carry."""

    fn: Callable[..., ImageData]
    params: dict[str, Param]


_REGION = {
    "rect": Param("rect", doc="[left, top, width, height] of the region"),
    "mask_png": Param("mask", doc="base64 PNG of the region (white), same size as the image at that step"),
    "transparent": Param("bool", doc="the pixels not fully opaque at that step (a rotation's corners, margins)"),
}
_REGION_KEYS = ("rect", "mask_png", "transparent")

OPS: dict[str, OpSpec] = {
    "crop": OpSpec(
        crop,
        {
            "left": Param("int", True, doc="left edge in pixels"),
            "top": Param("int", True, doc="top edge in pixels"),
            "width": Param("int", True, lo=1, doc="box width"),
            "height": Param("int", True, lo=1, doc="box height"),
        },
    ),
    "rotate": OpSpec(
        rotate,
        {
            "angle": Param("number", True, doc="degrees counter-clockwise"),
            "expand": Param("bool", doc="grow the canvas to fit (default true)"),
            "fill": Param("rgba", doc="corner colour RGBA (default transparent)"),
        },
    ),
    "resize": OpSpec(
        resize,
        {
            "width": Param("int", True, lo=1, doc="new width"),
            "height": Param("int", True, lo=1, doc="new height"),
            "method": Param("choice", choices=RESAMPLE_FILTERS, doc="filter (default lanczos)"),
        },
    ),
    "pad": OpSpec(
        pad,
        {
            "left": Param("int", lo=0, doc="pixels added on the left"),
            "top": Param("int", lo=0, doc="pixels added on top"),
            "right": Param("int", lo=0, doc="pixels added on the right"),
            "bottom": Param("int", lo=0, doc="pixels added at the bottom"),
            "fill": Param("rgba", doc="margin colour RGBA (default transparent)"),
        },
    ),
    "flip": OpSpec(
        flip,
        {
            "direction": Param("choice", True, choices=FLIP_DIRECTIONS, doc="horizontal or vertical"),
        },
    ),
    "erase": OpSpec(
        erase,
        {
            **_REGION,
            "colour": Param("rgb", doc="paint this colour instead of making the region transparent"),
        },
    ),
    "fill": OpSpec(
        fill,
        {
            **_REGION,
            "colour": Param("rgb", doc="fill colour"),
            "content_aware": Param("bool", doc="fill from the surroundings with the default inpainting model"),
        },
    ),
    "remove_background": OpSpec(
        remove_background,
        {
            "box": Param("rect", doc="[left, top, width, height] around the subject (default: the whole image)"),
            "backdrop": Param("choice", choices=BACKDROPS, doc="what goes behind the subject (default transparent)"),
            "colour": Param("rgb", doc="the backdrop colour (backdrop colour)"),
            "blur": Param("number", lo=0, hi=MAX_BLUR_SIGMA, doc="blur of the photo behind it (backdrop blur)"),
            "image_png": Param("mask", doc="base64 PNG of the picture behind it (backdrop image), scaled to cover"),
            "crop_to_subject": Param("bool", doc="crop the result to the subject"),
            "grow": Param("int", lo=-MAX_GROW, hi=MAX_GROW, doc="pixels the matte grows by (negative shrinks)"),
            "feather": Param("number", lo=0, hi=MAX_FEATHER, doc="soft edge of the matte, in pixels"),
        },
    ),
    "gan_filter": OpSpec(
        restyle,
        {"model": Param("choice", choices=FILTER_MODELS, doc="the filter model (default: the vintage look)")},
    ),
    "adjust": OpSpec(
        adjust,
        {
            "brightness": Param("number", lo=-1, hi=1, doc="-1..1, added"),
            "contrast": Param("number", lo=-1, hi=1, doc="-1..1, scale about mid-gray by 1 + c"),
            "saturation": Param("number", lo=-1, hi=1, doc="-1..1, -1 = gray"),
            "gamma": Param("number", lo=0, doc="> 0, out = in ** (1/gamma)"),
            "sharpen": Param("number", lo=0, hi=MAX_SHARPEN, doc="0..100, unsharp-mask amount"),
            "blur": Param("number", lo=0, hi=MAX_BLUR_SIGMA, doc=">= 0, Gaussian sigma in pixels"),
        },
    ),
}


def _check_value(op: str, name: str, p: Param, value: Any) -> Any:
    """The JSON-ready form of one parameter value; raises InvalidInputError with a plain sentence."""
    what = f"{quoted(name)} of {op}"
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInputError(f"{what} must be true or false (got {quoted(value)}).")
        return value
    if p.kind == "choice":
        if value not in p.choices:
            raise InvalidInputError(f"{what} must be one of: {', '.join(p.choices)} (got {quoted(value)}).")
        return value
    if p.kind in ("int", "number"):
        v = _integer(value, what) if p.kind == "int" else _number(value, what)
        if name == "gamma" and v <= 0:
            raise InvalidInputError(f"{what} must be greater than 0 (got {v:g}).")
        if not p.lo <= v <= p.hi:
            hi = "" if p.hi == math.inf else f" and at most {p.hi:g}"
            raise InvalidInputError(f"{what} must be at least {p.lo:g}{hi} (got {v:g}).")
        return v if p.kind == "int" else value
    if p.kind in ("rgb", "rgba"):
        parse_colour(value, 3 if p.kind == "rgb" else 4)
        return value if isinstance(value, str) else [float(v) for v in value]
    if p.kind == "rect":
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise InvalidInputError(f"{what} must be [left, top, width, height] (got {quoted(value)}).")
        rect = [_integer(v, what) for v in value]
        if rect[2] <= 0 or rect[3] <= 0:
            raise InvalidInputError(f"{what} needs a positive width and height (got {quoted(value)}).")
        return rect
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what} must be base64 text of a PNG image.")
    _b64_bytes(value, what)
    return value


def validate_step(step: Any) -> dict:
    """A checked, JSON-ready copy of one recipe step ``{"op": ..., **params}``."""
    if not isinstance(step, dict):
        raise InvalidInputError('Each recipe step must be an object such as {"op": "rotate", "angle": 90}.')
    op = step.get("op")
    if op is None:
        raise InvalidInputError('A step has no "op"; the edits are: ' + ", ".join(OPS) + ".")
    if not isinstance(op, str) or op not in OPS:
        raise InvalidInputError(f"Unknown edit {quoted(op)}; the edits are: {', '.join(OPS)}.")
    spec = OPS[op].params
    out: dict[str, Any] = {"op": op}
    for name, value in step.items():
        if name == "op":
            continue
        if name not in spec:
            raise InvalidInputError(f"{op} has no parameter {quoted(name)}; it takes: {', '.join(spec)}.")
        out[name] = _check_value(op, name, spec[name], value)
    missing = [n for n, p in spec.items() if p.required and n not in out]
    if missing:
        raise InvalidInputError(f"{op} needs the parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}.")
    if op in ("erase", "fill") and sum(bool(out.get(k, False)) for k in _REGION_KEYS) != 1:
        raise InvalidInputError(f"{op} needs exactly one region: 'rect', 'mask_png' or \"transparent\": true.")
    if op == "pad" and not any(out.get(k, 0) for k in ("left", "top", "right", "bottom")):
        raise InvalidInputError("pad needs at least one margin above 0 (left, top, right or bottom).")
    if op == "fill" and ("colour" in out) == bool(out.get("content_aware", False)):
        raise InvalidInputError("fill needs either a 'colour' or \"content_aware\": true (not both).")
    if op == "remove_background":
        _check_backdrop(out)
    return out


#: The parameter each backdrop of remove_background needs (None: it takes none of them).
_BACKDROP_PARAM = {"transparent": None, "colour": "colour", "blur": "blur", "image": "image_png"}


def _check_backdrop(step: dict) -> None:
    backdrop = step.get("backdrop", "transparent")
    needed = _BACKDROP_PARAM[backdrop]
    if needed and needed != "blur" and needed not in step:
        raise InvalidInputError(f"remove_background with backdrop {backdrop} needs the parameter {needed}.")
    stray = [p for p in _BACKDROP_PARAM.values() if p and p != needed and p in step]
    if stray:
        raise InvalidInputError(f"remove_background with backdrop {backdrop} takes no {', '.join(stray)}.")


def transparent_mask(img: ImageData) -> torch.Tensor:
    """(1,1,H,W) mask of the pixels that are not fully opaque (alpha below 1 by more than half an 8-bit step)."""
    if img.alpha is None:
        return torch.zeros(1, 1, img.height, img.width)
    return (img.alpha < 1 - 0.5 / 255).float()


def _step_mask(img: ImageData, params: dict) -> torch.Tensor:
    if "rect" in params:
        return rect_mask(img, *params["rect"])
    if params.get("transparent"):
        return transparent_mask(img)
    mask = mask_from_b64png(params["mask_png"])
    if tuple(mask.shape[-2:]) != (img.height, img.width):
        raise InvalidInputError(
            f"The region mask is {mask.shape[-1]}x{mask.shape[-2]} but the image at this step "
            f"is {img.width}x{img.height}."
        )
    return mask


def apply_step(
    img: ImageData,
    step: dict,
    inpaint: Inpaint | None = None,
    cutter: Cutter | None = None,
    gan_filter: GanFilter | None = None,
) -> ImageData:
    """Run one recipe step on an image (the step is validated first); ``inpaint``, ``cutter`` and ``gan_filter``
    are the models of content-aware fills, background removal and filter steps."""
    params = validate_step(step)
    op = params.pop("op")
    if op == "gan_filter":
        if gan_filter is None:
            raise InvalidInputError("This recipe has a GAN filter step, which needs a filter model.")
        return restyle(img, gan_filter, **params)
    if op == "remove_background":
        if cutter is None:
            raise InvalidInputError("This recipe removes a background, which needs a cutout model.")
        return remove_background(img, cutter, **params)
    if op in ("erase", "fill"):
        mask = _step_mask(img, params)
        colour = params.get("colour")
        if op == "erase":
            return erase(img, mask, colour)
        if colour is None and inpaint is None:
            raise InvalidInputError("This recipe has a content-aware fill, which needs an inpainting model.")
        return fill(img, mask, colour, inpaint)
    return OPS[op].fn(img, **params)


@dataclass
class Recipe:
    """Ordered edits with undo; serialises to JSON that :meth:`apply` replays identically."""

    steps: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        checked = []
        for i, step in enumerate(self.steps, 1):
            try:
                checked.append(validate_step(step))
            except InvalidInputError as exc:
                raise InvalidInputError(f"Step {i}: {exc}") from exc
        self.steps = checked

    def add(self, op: str, **params: Any) -> Recipe:
        """Append a validated step and return this recipe (so calls chain)."""
        self.steps.append(validate_step({"op": op, **params}))
        return self

    def undo(self) -> Recipe:
        """Drop the last step (nothing happens on an empty recipe) and return this recipe."""
        if self.steps:
            self.steps.pop()
        return self

    def to_json(self) -> str:
        """``{"version": 1, "steps": [...]}`` with one step per line."""
        if not self.steps:
            return json.dumps({"version": RECIPE_VERSION, "steps": []}, indent=2)
        body = ",\n".join("    " + json.dumps(s) for s in self.steps)
        return f'{{\n  "version": {RECIPE_VERSION},\n  "steps": [\n{body}\n  ]\n}}'

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        """Parse a recipe strictly: an unknown version, key, op or parameter is an error, and so is an empty text
        (the CLI and the app say so alike: a recipe with no steps is written out, ``"steps": []``)."""
        if text is None or (isinstance(text, (str, bytes)) and not text.strip()):
            raise InvalidInputError(
                'The recipe is empty: a recipe is a JSON object such as {"version": 1, "steps": [{"op": "rotate", '
                '"angle": 90}]} (the Edit tab exports one as recipe.json).'
            )
        try:
            # a byte-order mark (Windows Notepad writes one) is no part of the JSON
            data = json.loads(text.removeprefix("\ufeff") if isinstance(text, str) else text)
        except (ValueError, TypeError, RecursionError) as exc:
            # ValueError covers JSONDecodeError and numbers too long to read (over 4,300 digits);
            # RecursionError, brackets nested past Python's stack
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise InvalidInputError(f"The recipe is not valid JSON{where}.") from exc
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise InvalidInputError('A recipe is a JSON object like {"version": 1, "steps": [...]}.')
        extra = sorted(set(data) - {"version", "steps"})
        if extra:
            raise InvalidInputError(f"The recipe has unknown keys: {', '.join(extra)}.")
        version = data.get("version")
        if version is None:
            raise InvalidInputError(f'The recipe has no "version"; Ganvas reads version {RECIPE_VERSION}.')
        if isinstance(version, bool) or version != RECIPE_VERSION:
            raise InvalidInputError(
                f"This recipe has version {quoted(version)}; Ganvas reads version {RECIPE_VERSION}."
            )
        return cls(steps=data["steps"])

    def apply(
        self,
        img: ImageData,
        inpaint: Inpaint | None = None,
        cutter: Cutter | None = None,
        gan_filter: GanFilter | None = None,
    ) -> ImageData:
        """Run every step in order; errors name the step that failed."""
        for i, step in enumerate(self.steps, 1):
            try:
                img = apply_step(img, step, inpaint, cutter, gan_filter)
            except (InvalidInputError, ImageTooLargeError) as exc:  # the same kind, with the step named
                op = step.get("op") if isinstance(step, dict) else None
                raise type(exc)(f"Step {i} ({op}): {exc}" if isinstance(op, str) else f"Step {i}: {exc}") from exc
        return img
