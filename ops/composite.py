"""Layer compositing for the composite tab: placement, blend modes, Porter-Duff over, seamless and depth.

All colours are straight (non-premultiplied) float32 tensors in [0, 1]; resampling happens on
premultiplied values so transparent pixels never bleed their colour into the layer's edge.
Depth maps follow one convention throughout: SMALLER depth = NEARER to the viewer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InvalidInputError, quoted
from core.image import ImageData, check_pixels
from core.imaging import luma, premultiply, unpremultiply
from ops.defaults import BLEND_MODES

# BT.601 weights, the same luminance PIL uses for mode "L".
# Exact (cos, sin) for right angles so that their bounding boxes are exact integers.
_RIGHT_ANGLES = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}


# ------------------------------------------------------------------------------------ blending


def _soft_light_d(b: torch.Tensor) -> torch.Tensor:
    return torch.where(b <= 0.25, ((16 * b - 12) * b + 4) * b, torch.sqrt(b))


def blend(base: torch.Tensor, top: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-pixel W3C/PDF blend of ``top`` (source) onto ``base`` (backdrop), RGB in [0, 1]."""
    _check_mode(mode)
    if base.shape != top.shape:
        raise InvalidInputError(f"The two layers to blend differ in size ({tuple(base.shape)} and {tuple(top.shape)}).")
    b, s = base, top
    if mode == "normal":
        return s.clone()
    if mode == "multiply":
        return b * s
    if mode == "screen":
        return b + s - b * s
    if mode == "overlay":
        return torch.where(b <= 0.5, 2 * b * s, 1 - 2 * (1 - b) * (1 - s))
    if mode == "soft_light":
        darker = b - (1 - 2 * s) * b * (1 - b)
        lighter = b + (2 * s - 1) * (_soft_light_d(b) - b)
        return torch.where(s <= 0.5, darker, lighter)
    if mode == "darken":
        return torch.minimum(b, s)
    if mode == "lighten":
        return torch.maximum(b, s)
    if mode == "difference":
        return (b - s).abs()
    return (b + s).clamp(0, 1)  # add


def _check_mode(mode: str) -> None:
    if mode not in BLEND_MODES:
        raise InvalidInputError(f"Unknown blend mode {quoted(mode)}. Choose one of: {', '.join(BLEND_MODES)}.")


def over(
    fg_rgb: torch.Tensor, fg_alpha: torch.Tensor, bg_rgb: torch.Tensor, bg_alpha: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Porter-Duff source-over of straight colours; returns (rgb, alpha), rgb 0 where alpha is 0.

    ``bg_alpha=None`` means an opaque background. Where the foreground alpha is exactly 0 the
    background pixel is returned bit-for-bit, so untouched areas stay untouched.
    """
    af = fg_alpha
    ab = torch.ones_like(bg_rgb[:, :1]) if bg_alpha is None else bg_alpha
    out_a = af + ab * (1 - af)
    out_a = torch.where((af == 1) | (ab == 1), torch.ones_like(out_a), out_a)
    num = fg_rgb * af + bg_rgb * (ab * (1 - af))
    rgb = torch.where(out_a > 0, num / out_a.clamp_min(1e-12), torch.zeros_like(num)).clamp(0, 1)
    untouched = torch.where(ab > 0, bg_rgb, torch.zeros_like(bg_rgb))
    rgb = torch.where(af == 0, untouched, rgb)
    out_a = torch.where(af == 0, ab, out_a)
    return rgb, out_a.expand_as(rgb[:, :1]).contiguous()


# ----------------------------------------------------------------------------------- placement


#: Bounds that keep sizes and filter widths countable: a 16 px icon at scale 1000 is 16,000 px wide, past any
#: canvas, and a feather wider than 10,000 px fades every layer out alike.
MAX_SCALE = 1000.0
MAX_FEATHER = 10_000.0


def _check_scale(scale: float) -> None:
    if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise InvalidInputError(f"Scale must be a number greater than 0 and at most {MAX_SCALE:g} (got {scale}).")


def _check_params(scale: float, opacity: float, feather: float) -> None:
    _check_scale(scale)
    if not (math.isfinite(opacity) and 0 <= opacity <= 1):
        raise InvalidInputError(f"Opacity must be between 0 and 1 (got {opacity}).")
    if not (math.isfinite(feather) and 0 <= feather <= MAX_FEATHER):
        raise InvalidInputError(f"Feather must be 0 to {MAX_FEATHER:,.0f} pixels (got {feather}).")


def _position(value: float, name: str) -> int:
    if not math.isfinite(value):
        raise InvalidInputError(f"The {name} position must be a whole number of pixels (got {value}).")
    return int(round(value))


def _cos_sin(angle: float) -> tuple[float, float]:
    if angle in _RIGHT_ANGLES:
        return _RIGHT_ANGLES[angle]
    rad = math.radians(angle)
    return math.cos(rad), math.sin(rad)


def _sample_window(
    chans: torch.Tensor,
    alpha: torch.Tensor,
    size: tuple[int, int],
    cos_sin: tuple[float, float],
    bbox: tuple[int, int],
    window: tuple[int, int, int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the scaled+rotated layer on the window (x0, y0, x1, y1) of layer-frame pixels."""
    sw, sh = size
    bw, bh = bbox
    x0, y0, x1, y1 = window
    prem = premultiply(chans, alpha)
    h, w = prem.shape[-2:]
    if sw < w or sh < h:
        # Shrinking: box-filter first so the bilinear sampler below does not alias.
        prem = F.interpolate(prem, size=(sh, sw), mode="area")
    cos, sin = cos_sin
    dx_row = torch.arange(x0, x1, dtype=torch.float32) + (0.5 - bw / 2)
    out_c = torch.empty(1, chans.shape[1], y1 - y0, x1 - x0)
    out_a = torch.empty(1, 1, y1 - y0, x1 - x0)
    # Bands of rows: each pixel is sampled on its own, so the result is the same as in one piece, and the
    # sampling grid and its temporaries stay the size of one band.
    rows = max(1, BAND_PIXELS // max(1, x1 - x0))
    for r0 in range(y0, y1, rows):
        r1 = min(y1, r0 + rows)
        dy, dx = torch.meshgrid(torch.arange(r0, r1, dtype=torch.float32) + (0.5 - bh / 2), dx_row, indexing="ij")
        # Inverse of a counter-clockwise turn on screen (y points down), in scaled-layer pixels.
        sx = dx * cos - dy * sin + sw / 2
        sy = dx * sin + dy * cos + sh / 2
        grid = torch.stack([sx * (2 / sw) - 1, sy * (2 / sh) - 1], dim=-1)[None]
        sampled = F.grid_sample(prem, grid, mode="bilinear", padding_mode="border", align_corners=False)
        # Border padding keeps edges opaque; this coverage ramp (about one pixel) cuts the layer out.
        inside = torch.minimum(torch.minimum(sx, sw - sx), torch.minimum(sy, sh - sy))
        coverage = (inside + 0.5).clamp(0, 1)[None, None]
        out_c[..., r0 - y0 : r1 - y0, :], out_a[..., r0 - y0 : r1 - y0, :] = unpremultiply(sampled * coverage)
    return out_c, out_a


def _gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """Gaussian taps over [-radius, radius], normalised as if untruncated at 3 sigma."""
    full = math.ceil(3 * sigma)
    if full <= 4096:
        norm = float(np.exp(-(np.arange(-full, full + 1, dtype=np.float64) ** 2) / (2 * sigma**2)).sum())
    else:
        norm = sigma * math.sqrt(2 * math.pi)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    return (np.exp(-(taps**2) / (2 * sigma**2)) / norm).astype(np.float32)


def _feather_alpha(alpha: torch.Tensor, sigma: float) -> torch.Tensor:
    """Soften the alpha edge inward: min(alpha, gaussian(alpha)) with zeros beyond the window."""
    import cv2

    h, w = alpha.shape[-2:]
    # Taps farther than the window is wide only ever meet the zero border: leave them out.
    kernel = _gaussian_kernel(sigma, min(math.ceil(3 * sigma), max(h, w)))
    a = alpha[0, 0].numpy().astype(np.float32)
    blurred = cv2.sepFilter2D(a, -1, kernel, kernel, borderType=cv2.BORDER_CONSTANT)
    return torch.minimum(alpha, torch.from_numpy(np.ascontiguousarray(blurred))[None, None])


Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) on the canvas, x1 and y1 exclusive

#: Pixels per band where a layer is resampled band by band of rows.
BAND_PIXELS = 1 << 20


def _scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    _check_scale(scale)
    w, h = size
    return max(1, round(w * scale)), max(1, round(h * scale))


def placed_size(size: tuple[int, int], scale: float = 1.0, rotate: float = 0.0) -> tuple[int, int]:
    """(width, height) of a layer of ``size`` once scaled and rotated (the box :func:`place_layer` fills)."""
    if not math.isfinite(rotate):
        raise InvalidInputError(f"Rotation must be a number of degrees (got {rotate}).")
    sw, sh = _scaled_size(size, scale)
    cos, sin = _cos_sin(float(rotate) % 360.0)
    return (
        max(1, math.ceil(abs(sw * cos) + abs(sh * sin) - 1e-6)),
        max(1, math.ceil(abs(sw * sin) + abs(sh * cos) - 1e-6)),
    )


def centred_at(
    size: tuple[int, int], centre: tuple[float, float], scale: float = 1.0, rotate: float = 0.0
) -> tuple[int, int]:
    """The (x, y) that puts the middle of a scaled and rotated layer of ``size`` on ``centre`` (canvas pixels)."""
    bw, bh = placed_size(size, scale, rotate)
    return round(centre[0] - bw / 2), round(centre[1] - bh / 2)


def misses_canvas(
    size: tuple[int, int], canvas_size: tuple[int, int], x: int, y: int, scale: float = 1.0, rotate: float = 0.0
) -> str | None:
    """A sentence for the user when a layer of ``size`` placed at (x, y) lies wholly off the canvas (the result
    would be the background unchanged), else None."""
    bw, bh = placed_size(size, scale, rotate)
    cw, ch = canvas_size
    if x < cw and y < ch and x + bw > 0 and y + bh > 0:
        return None
    return (
        f"The foreground ({bw}x{bh} at x {x}, y {y}) lies wholly outside the {cw}x{ch} background, so the result "
        "is the background unchanged."
    )


def _place_window(
    chans: torch.Tensor,
    alpha: torch.Tensor,
    canvas_size: tuple[int, int],
    x: int,
    y: int,
    scale: float,
    rotate: float,
    feather: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, Box] | None:
    """Transform a layer (straight channels + alpha) onto a canvas; see :func:`place_layer`.

    Returns only the part that lands on the canvas: (channels, alpha, its box on the canvas), or None
    when nothing does. Outside the box the placed layer is transparent.
    """
    cw, ch = canvas_size
    h, w = chans.shape[-2:]
    (sw, sh), (bw, bh) = _scaled_size((w, h), scale), placed_size((w, h), scale, rotate)
    angle = float(rotate) % 360.0
    cos, sin = _cos_sin(angle)
    # Beyond a canvas-sized margin a very wide feather only makes everything equally faint.
    margin = min(math.ceil(3 * feather), max(cw, ch)) + 1 if feather > 0 else 0
    # Only the part of the layer that can reach the canvas (plus the feather's reach) is computed.
    x0, y0 = max(0, -margin - x), max(0, -margin - y)
    x1, y1 = min(bw, cw + margin - x), min(bh, ch + margin - y)
    if x1 <= x0 or y1 <= y0:
        return None
    check_pixels(x1 - x0, y1 - y0, "The placed foreground (the part of it that reaches the background)")
    if sw == w and sh == h and angle in _RIGHT_ANGLES:
        k = int(angle // 90)
        layer_c = torch.rot90(chans, k, dims=(-2, -1))[..., y0:y1, x0:x1]
        layer_a = torch.rot90(alpha, k, dims=(-2, -1))[..., y0:y1, x0:x1]
    else:
        layer_c, layer_a = _sample_window(chans, alpha, (sw, sh), (cos, sin), (bw, bh), (x0, y0, x1, y1))
    if feather > 0:
        layer_a = _feather_alpha(layer_a, feather)
    # Crop the window to the canvas.
    cx0, cy0 = max(0, x + x0), max(0, y + y0)
    cx1, cy1 = min(cw, x + x1), min(ch, y + y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    lx0, ly0 = cx0 - (x + x0), cy0 - (y + y0)
    lx1, ly1 = lx0 + (cx1 - cx0), ly0 + (cy1 - cy0)
    return layer_c[..., ly0:ly1, lx0:lx1], layer_a[..., ly0:ly1, lx0:lx1], (cx0, cy0, cx1, cy1)


def _on_canvas(
    placed: tuple[torch.Tensor, torch.Tensor, Box] | None,
    channels: int,
    canvas_size: tuple[int, int],
    view: Box | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A placed window pasted on a transparent canvas, or on the part ``view`` of it (which holds the window):
    (channels (1,C,H,W), alpha (1,1,H,W))."""
    vx0, vy0, vx1, vy1 = view or (0, 0, *canvas_size)
    out_c = torch.zeros((1, channels, vy1 - vy0, vx1 - vx0), dtype=torch.float32)
    out_a = torch.zeros((1, 1, vy1 - vy0, vx1 - vx0), dtype=torch.float32)
    if placed is not None:
        layer_c, layer_a, (x0, y0, x1, y1) = placed
        out_c[..., y0 - vy0 : y1 - vy0, x0 - vx0 : x1 - vx0] = layer_c
        out_a[..., y0 - vy0 : y1 - vy0, x0 - vx0 : x1 - vx0] = layer_a
    return out_c, out_a


def _layer_alpha(fg: ImageData) -> torch.Tensor:
    return fg.alpha if fg.alpha is not None else torch.ones_like(fg.rgb[:, :1])


def place_layer(
    fg: ImageData, canvas_size: tuple[int, int], x: int, y: int, scale: float = 1.0, rotate: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale (about the top-left), rotate CCW in degrees (expanding) and put the layer's top-left at (x, y).

    ``canvas_size`` is (width, height). Returns (rgb (1,3,H,W), alpha (1,1,H,W)) on the canvas,
    alpha 0 outside the layer; parts off the canvas are clipped. With scale 1 and a multiple of 90
    degrees the pixels are copied exactly.
    """
    _check_params(scale, 1.0, 0.0)
    size = _canvas(canvas_size)
    placed = _place_window(fg.rgb, _layer_alpha(fg), size, _position(x, "x"), _position(y, "y"), scale, rotate)
    return _on_canvas(placed, fg.rgb.shape[1], size)


def _canvas(canvas_size: tuple[int, int]) -> tuple[int, int]:
    cw, ch = (int(v) for v in canvas_size)
    if cw <= 0 or ch <= 0:
        raise InvalidInputError("The background is empty (zero width or height).")
    return cw, ch


# ------------------------------------------------------------------------------ mask and depth


def _luminance(img: ImageData) -> torch.Tensor:
    if img.grayscale:
        return img.rgb[:, :1].clone()
    return luma(img.rgb).clamp(0, 1)


def mask_from_image(img: ImageData) -> torch.Tensor:
    """A mask (1,1,H,W) in [0,1] from an uploaded mask image: luminance times its alpha (white = keep)."""
    lum = _luminance(img)
    return lum * img.alpha if img.alpha is not None else lum


def depth_from_image(img: ImageData) -> torch.Tensor:
    """A depth map (1,1,H,W) in [0,1] from an uploaded depth image's luminance (darker = nearer)."""
    return _luminance(img)


def _resize_map(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    w, h = size
    if m.shape[-2:] == (h, w):
        return m
    if h < m.shape[-2] or w < m.shape[-1]:
        return F.interpolate(m, size=(h, w), mode="area").clamp(0, 1)
    return F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def _as_map(m: torch.Tensor) -> torch.Tensor:
    d = m.detach().float().cpu()
    return d[None, None] if d.ndim == 2 else d[None] if d.ndim == 3 else d


def _depth_map(depth: torch.Tensor | float, img: ImageData, name: str) -> torch.Tensor:
    """A depth map the size of ``img``: a map of another size is resized to it (as a mask is; see
    :func:`resize_notes`), a constant fills it."""
    if isinstance(depth, torch.Tensor) and depth.numel() != 1:
        d = _as_map(depth)
        if d.ndim != 4 or d.shape[:2] != (1, 1) or 0 in d.shape:
            raise InvalidInputError(f"The {name} depth map must be one plane of pixels (got {tuple(depth.shape)}).")
        valid = bool(torch.isfinite(d).all()) and 0 <= float(d.min()) and float(d.max()) <= 1
    else:
        value = float(depth.item()) if isinstance(depth, torch.Tensor) else float(depth)
        valid, d = math.isfinite(value) and 0 <= value <= 1, None
    if not valid:
        raise InvalidInputError(f"The {name} depth must lie between 0 (nearest) and 1 (farthest).")
    if d is None:
        return torch.full((1, 1, img.height, img.width), value, dtype=torch.float32)
    return _resize_map(d, img.size)


def resize_notes(
    bg: ImageData,
    fg: ImageData,
    mask: ImageData | None = None,
    bg_depth: torch.Tensor | float | None = None,
    fg_depth: torch.Tensor | float | None = None,
) -> list[str]:
    """Sentences for the maps that a composite resizes to their image: a mask of another size than the
    foreground, a depth map of another size than its image (one rule for every map, as inpainting's mask)."""
    maps = [("mask", mask.size if mask is not None else None, "foreground", fg.size)]
    for name, depth, img in (("background", bg_depth, bg), ("foreground", fg_depth, fg)):
        size = None
        if isinstance(depth, torch.Tensor) and depth.numel() != 1 and depth.ndim >= 2:
            size = (int(depth.shape[-1]), int(depth.shape[-2]))
        maps.append((f"{name} depth map", size, name, img.size))
    return [
        f"The {what} was {w}x{h} and the {whose} {iw}x{ih}: the {what} was resized to match."
        for what, size, whose, (iw, ih) in maps
        if size is not None and size != (iw, ih)
        for w, h in [size]
    ]


# ----------------------------------------------------------------------------------- composite


def _result(bg: ImageData, fg: ImageData, rgb: torch.Tensor, alpha: torch.Tensor | None) -> ImageData:
    # a gray background stays gray where the colour layer left no colour on it (placed off the canvas, at
    # opacity 0, or gray where it landed): it became RGB as soon as the layer had colour anywhere
    gray = bg.grayscale and (fg.grayscale or bool(((rgb[:, 0] == rgb[:, 1]) & (rgb[:, 1] == rgb[:, 2])).all()))
    return replace(
        bg,
        rgb=rgb.clamp_(0, 1),  # the caller's own copy (float32, contiguous): clamped in place
        alpha=alpha.clamp_(0, 1) if bg.alpha is not None and alpha is not None else None,
        bit_depth=max(bg.bit_depth, fg.bit_depth),
        grayscale=gray,
    )


def _over_window(
    bg: ImageData,
    fg: ImageData,
    box: Box | None = None,
    layer: Callable[[ImageData], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> ImageData:
    """Source-over of a layer that covers only ``box`` of the background: the work is done on that part alone.

    ``layer(part)`` gets the background cropped to the box and returns the layer's (colour, alpha) there.
    Everywhere else the result is the background as :func:`over` leaves it under a transparent layer.
    """
    rgb = bg.rgb.clone()
    alpha = bg.alpha.clone() if bg.alpha is not None else None
    if box is not None and layer is not None:
        x0, y0, x1, y1 = box
        part = replace(bg, rgb=bg.rgb[..., y0:y1, x0:x1], alpha=None if alpha is None else bg.alpha[..., y0:y1, x0:x1])
        colour, layer_a = layer(part)
        # over() is per pixel: band by band of rows its temporaries stay the size of one band
        rows = max(1, BAND_PIXELS // max(1, x1 - x0))
        for r0 in range(0, y1 - y0, rows):
            r1 = min(y1 - y0, r0 + rows)
            band_a = None if part.alpha is None else part.alpha[..., r0:r1, :]
            out_rgb, out_a = over(colour[..., r0:r1, :], layer_a[..., r0:r1, :], part.rgb[..., r0:r1, :], band_a)
            rgb[..., y0 + r0 : y0 + r1, x0:x1] = out_rgb
            if alpha is not None:
                alpha[..., y0 + r0 : y0 + r1, x0:x1] = out_a
    if alpha is not None:
        # over() gives no colour to fully transparent pixels: the same for the whole canvas
        rgb.masked_fill_(~(alpha > 0).expand_as(rgb), 0.0)
    return _result(bg, fg, rgb, alpha)


def _mixed_colour(bg: ImageData, placed_rgb: torch.Tensor, mode: str) -> torch.Tensor:
    """The W3C mixing rule: (1 - bg_alpha) * fg + bg_alpha * blend(bg, fg)."""
    if mode == "normal":
        return placed_rgb
    mixed = blend(bg.rgb, placed_rgb, mode)
    if bg.alpha is None:
        return mixed
    return (1 - bg.alpha) * placed_rgb + bg.alpha * mixed


def composite(
    bg: ImageData,
    fg: ImageData,
    *,
    mask: ImageData | None = None,
    x: int = 0,
    y: int = 0,
    scale: float = 1.0,
    rotate: float = 0.0,
    opacity: float = 1.0,
    feather: float = 0.0,
    blend_mode: str = "normal",
    seamless: bool = False,
) -> ImageData:
    """Put ``fg`` on ``bg`` (placed, masked, feathered, blended, optionally Poisson-cloned); bg's size and metadata.

    ``mask`` (white = keep, resized to the fg if needed) multiplies the fg alpha; ``feather`` is
    a Gaussian sigma in pixels that softens the layer's alpha edge inward; ``opacity`` multiplies
    alpha. ``seamless`` clones the layer where its alpha > 0.5 with OpenCV's Poisson editing.
    """
    _check_params(scale, opacity, feather)
    _check_mode(blend_mode)
    x, y = _position(x, "x"), _position(y, "y")
    fg_alpha = _layer_alpha(fg)
    if mask is not None:
        fg_alpha = fg_alpha * _resize_map(mask_from_image(mask), fg.size)
    placed = _place_window(fg.rgb, fg_alpha, bg.size, x, y, scale, rotate, feather)
    if placed is None:
        if seamless:
            raise InvalidInputError(_NOTHING_TO_CLONE)
        return _over_window(bg, fg)
    layer_rgb, layer_a, box = placed
    if seamless:
        # The Poisson solve reads the background one pixel around the cloned region: work on the layer's
        # box grown by two pixels (a ring the region never reaches, unless the box meets the canvas edge).
        box = _grow(box, 2, bg.size)
        layer_rgb, layer_a = _on_canvas(placed, 3, bg.size, box)

    def layer(part: ImageData) -> tuple[torch.Tensor, torch.Tensor]:
        colour = _mixed_colour(part, layer_rgb, blend_mode)
        if not seamless:
            return colour, layer_a * opacity
        # the cloned colour already carries the layer's soft alpha: the region is replaced outright
        cloned, region = _seamless_clone(part.rgb, colour, layer_a)
        return cloned, region * opacity

    return _over_window(bg, fg, box, layer)


def _grow(box: Box, by: int, canvas_size: tuple[int, int]) -> Box:
    x0, y0, x1, y1 = box
    return max(0, x0 - by), max(0, y0 - by), min(canvas_size[0], x1 + by), min(canvas_size[1], y1 + by)


def _to_bgr8(rgb: torch.Tensor) -> np.ndarray:
    arr = (rgb[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr[..., ::-1])


_NOTHING_TO_CLONE = (
    "Seamless cloning needs some visible part of the foreground on the background: move it onto "
    "the background, or check that the mask is not all black."
)


def _seamless_clone(
    bg_rgb: torch.Tensor, colour: torch.Tensor, placed_a: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Poisson-clone the placed layer into the background; returns (cloned rgb, region where it applies)."""
    import cv2

    if float(placed_a.max()) <= 0:
        raise InvalidInputError(_NOTHING_TO_CLONE)
    region = (placed_a[0, 0] > 0.5).numpy()
    # OpenCV never clones the outermost pixels of the image, and uses the source's gradients only
    # 3 pixels inside the mask (the ring in between takes the background's): check what is left.
    region[0, :] = region[-1, :] = False
    region[:, 0] = region[:, -1] = False
    mask8 = region.astype(np.uint8) * 255
    core = cv2.erode(mask8, np.ones((3, 3), np.uint8), iterations=3)
    if not core.any():
        raise InvalidInputError(
            "The area to clone seamlessly is too small: it must be at least 7x7 pixels, more than half "
            "opaque, and lie on the background away from its outermost pixels."
        )
    rx, ry, rw, rh = cv2.boundingRect(mask8)
    source, _ = over(colour, placed_a, bg_rgb, None)
    src8 = _to_bgr8(source)
    cloned8 = cv2.seamlessClone(src8, _to_bgr8(bg_rgb), mask8, (rx + rw // 2, ry + rh // 2), cv2.NORMAL_CLONE)
    # Apply OpenCV's correction to the full-precision source, so 16-bit layers keep their detail.
    correction = (cloned8.astype(np.float32) - src8.astype(np.float32))[..., ::-1] / 255.0
    corr = torch.from_numpy(np.ascontiguousarray(correction)).permute(2, 0, 1)[None]
    # OpenCV truncates its solution to 8 bits instead of rounding: add back the half step it loses.
    corr[..., ry + 1 : ry + rh - 1, rx + 1 : rx + rw - 1] += 0.5 / 255.0
    return (source + corr).clamp(0, 1), torch.from_numpy(region)[None, None].float()


def depth_composite(
    bg: ImageData,
    fg: ImageData,
    *,
    bg_depth: torch.Tensor | float,
    fg_depth: torch.Tensor | float,
    mask: ImageData | None = None,
    x: int = 0,
    y: int = 0,
    scale: float = 1.0,
    rotate: float = 0.0,
    opacity: float = 1.0,
    feather: float = 0.0,
    blend_mode: str = "normal",
    softness: float = 0.0,
) -> ImageData:
    """Composite with occlusion by depth (SMALLER = NEARER): the fg shows only where it is nearer than the bg.

    Depths are (1,1,H,W) maps in [0,1] the size of their image, or constants; the fg map moves
    with the fg. The fg alpha is multiplied by clamp(0.5 + (bg_depth - fg_depth) / softness, 0, 1),
    a hard step when ``softness`` is 0 (equal depths go to the fg). ``mask``, ``feather`` and
    ``blend_mode`` act as in :func:`composite`.
    """
    _check_params(scale, opacity, feather)
    _check_mode(blend_mode)
    if not (math.isfinite(softness) and softness >= 0):
        raise InvalidInputError(f"Softness must be 0 or more (got {softness}).")
    x, y = _position(x, "x"), _position(y, "y")
    bg_d = _depth_map(bg_depth, bg, "background")
    fg_d = _depth_map(fg_depth, fg, "foreground")
    chans = torch.cat([fg.rgb, fg_d], dim=1)
    fg_alpha = _layer_alpha(fg)
    if mask is not None:
        fg_alpha = fg_alpha * _resize_map(mask_from_image(mask), fg.size)
    placed = _place_window(chans, fg_alpha, bg.size, x, y, scale, rotate, feather)
    if placed is None:
        return _over_window(bg, fg)
    layer, layer_a, box = placed
    x0, y0, x1, y1 = box
    bg_d = bg_d[..., y0:y1, x0:x1]

    def occluded(part: ImageData) -> tuple[torch.Tensor, torch.Tensor]:
        placed_d = layer[:, 3:]
        if softness > 0:
            weight = (0.5 + (bg_d - placed_d) / softness).clamp(0, 1)
        else:
            weight = (placed_d <= bg_d).float()
        return _mixed_colour(part, layer[:, :3], blend_mode), layer_a * weight * opacity

    return _over_window(bg, fg, box, occluded)
