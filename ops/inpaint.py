"""The inpainting pipeline every inpainting model goes through (IOPaint's HD strategy, once).

The mask is binarised and sized to the image, the model runs on the whole image, a downscaled
copy ("resize") or crops around each masked region ("crop"), and only masked pixels are pasted
back: everything outside the mask is returned bit-identical, so a 12 MP photo with a small mask
costs what its crops cost. Alpha is kept outside the mask too; inside, it is filled from the
surroundings like the colour (a hole erased in a photo comes back opaque, a hole in a sticker's
transparent background stays transparent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.errors import InvalidInputError
from core.image import ImageData, from_numpy
from core.imaging import luma, resample
from core.progress import DownloadProgress, Progress
from models.adapters import Inpainter
from models.registry import Task
from models.runtime import ModelCache
from ops.convert import from_pil

STRATEGIES = ("original", "resize", "crop")

MaskSource = ImageData | torch.Tensor | np.ndarray | Image.Image


@dataclass
class InpaintResult:
    """The inpainted image, sentences for the user, and the binary mask that was used."""

    image: ImageData
    notices: list[str]
    mask: torch.Tensor  # (1, 1, H, W) float32, 1 = filled


def _mask_from_channels(t: torch.Tensor) -> torch.Tensor:
    """(1,C,H,W) float in [0,1] -> boolean (1,1,H,W): alpha > 0 when painted, else luminance > 0.5."""
    c = t.shape[1]
    if c == 4 and not bool((t[:, 3:4] >= 1).all()):
        return t[:, 3:4] > 0
    if c in (3, 4):
        return luma(t[:, :3]) > 0.5
    if c == 1:
        return t > 0.5
    raise InvalidInputError(f"A mask needs 1, 3 or 4 channels; this one has {c}.")


def _as_bool_mask(mask: MaskSource) -> torch.Tensor:
    if isinstance(mask, Image.Image):
        mask = from_pil(mask)
    elif isinstance(mask, np.ndarray):
        mask = from_numpy(mask)
    if isinstance(mask, ImageData):
        return _mask_from_channels(mask.rgba() if mask.alpha is not None else mask.rgb)
    if not isinstance(mask, torch.Tensor):
        raise InvalidInputError("The mask must be an image, an array or a tensor.")
    t = mask.detach().cpu()
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    elif t.dtype == torch.bool or t.is_floating_point():
        t = t.float()
    else:
        t = (t > 0).float()
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[0] != 1 or t.shape[-1] == 0 or t.shape[-2] == 0:
        raise InvalidInputError(f"The mask has an unusable shape {tuple(mask.shape)}.")
    return _mask_from_channels(t)


def _distance_to_zero(binary: np.ndarray) -> np.ndarray:
    """Euclidean distance of every nonzero pixel to the nearest zero pixel (0 on zero pixels)."""
    import cv2

    return cv2.distanceTransform(binary.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def prepare_mask(mask: MaskSource, size: tuple[int, int], dilate: int = 0) -> tuple[torch.Tensor, list[str]]:
    """Binary (1,1,H,W) float mask for an image of ``size`` = (width, height), grown by ``dilate`` px.

    A mask with a real alpha channel (a painted Gradio ImageEditor layer) marks where alpha > 0;
    any other mask marks where luminance > 0.5. A mask of another size is resized (nearest) to fit.
    """
    width, height = size
    if dilate < 0:
        raise InvalidInputError("The mask dilation must be zero or more pixels.")
    m = _as_bool_mask(mask)
    notices: list[str] = []
    mh, mw = m.shape[-2:]
    if (mw, mh) != (width, height):
        m = F.interpolate(m.float(), size=(height, width), mode="nearest-exact") > 0.5
        notices.append(f"The mask was {mw}x{mh} and the image {width}x{height}: the mask was resized to match.")
    if dilate > 0 and bool(m.any()):
        dist = _distance_to_zero(~m[0, 0].numpy())
        m = torch.from_numpy(dist <= dilate)[None, None]
    return m.float(), notices


def _feather_weight(keep: np.ndarray, box: tuple[int, int, int, int], feather: int) -> torch.Tensor:
    """Blend weight inside the mask for one box: distance to the nearest unmasked pixel / feather, capped at 1."""
    x0, y0, x1, y1 = box
    h, w = keep.shape
    # Widen by feather + 1 so every unmasked pixel nearer than `feather` is seen; farther ones cap at 1 anyway.
    e = feather + 1
    ex0, ey0, ex1, ey1 = max(0, x0 - e), max(0, y0 - e), min(w, x1 + e), min(h, y1 + e)
    dist = _distance_to_zero(keep[ey0:ey1, ex0:ex1])[y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0]
    return torch.from_numpy(np.ascontiguousarray(dist) / float(feather)).clamp(0, 1).float()[None, None]


def _boxes_for(mask: np.ndarray, margin: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) crop boxes: each connected region plus ``margin``, overlapping boxes merged."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    h, w = mask.shape
    boxes = []
    for i in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        boxes.append((max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin)))
    merged = True
    while merged:
        merged = False
        out: list[tuple[int, int, int, int]] = []
        for box in boxes:
            for j, other in enumerate(out):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    out[j] = (
                        min(box[0], other[0]),
                        min(box[1], other[1]),
                        max(box[2], other[2]),
                        max(box[3], other[3]),
                    )
                    merged = True
                    break
            else:
                out.append(box)
        boxes = out
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def _pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Pad right and bottom by reflection (replication where the image is too small to reflect)."""
    if pad_h == 0 and pad_w == 0:
        return x
    h, w = x.shape[-2:]
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _run_model(model: Inpainter, rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Call the model once, padded to its size multiple and minimum size, cropped back."""
    h, w = rgb.shape[-2:]
    mult = max(1, int(model.spec.size_multiple))
    least = max(1, int(model.spec.min_size))
    th = -(-max(h, least) // mult) * mult
    tw = -(-max(w, least) // mult) * mult
    out = model(_pad(rgb, th - h, tw - w), _pad(mask, th - h, tw - w))
    if tuple(out.shape) != (1, 3, th, tw):
        raise RuntimeError(f"{model.spec.title} returned an image of shape {tuple(out.shape)} for a {tw}x{th} input.")
    return out[..., :h, :w].float()


def _fill(model: Inpainter, rgb: torch.Tensor, mask: torch.Tensor, limit: int | None) -> tuple[torch.Tensor, bool]:
    """The model's fill for one region, at most ``limit`` px on the long side; True when downscaled."""
    h, w = rgb.shape[-2:]
    if limit is None or max(h, w) <= limit:
        return _run_model(model, rgb, mask), False
    s = limit / max(h, w)
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    small_rgb = resample(rgb, (sh, sw), "bicubic")
    # Area coverage > 0 keeps thin strokes in the small mask instead of letting them vanish.
    small_mask = (F.interpolate(mask, size=(sh, sw), mode="area") > 0).float()
    out = _run_model(model, small_rgb, small_mask)
    return resample(out, (h, w), "bicubic"), True


def _paste(
    dst: torch.Tensor, src: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None
) -> None:
    """Write ``fill`` into ``dst`` where ``mask`` > 0.5 (blended with ``src`` by ``weight`` when feathered) and
    ``src`` elsewhere, band by band of rows: each pixel is on its own, so temporaries stay one band's size."""
    rows = max(1, (1 << 20) // max(1, dst.shape[-1]))
    for r0 in range(0, dst.shape[-2], rows):
        band = slice(r0, min(dst.shape[-2], r0 + rows))
        s, f = src[..., band, :], fill[..., band, :]
        if weight is not None:
            f = s * (1 - weight[..., band, :]) + f * weight[..., band, :]
        dst[..., band, :] = torch.where((mask[..., band, :] > 0.5).expand_as(s), f.clamp(0, 1), s)


def _check_params(strategy: str, dilate: int, feather: int, margin: int, resize_limit: int) -> None:
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"Unknown inpainting strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if min(dilate, feather, margin) < 0:
        raise InvalidInputError("Dilation, feather and margin must be zero or more pixels.")
    if resize_limit < 16:
        raise InvalidInputError("The resize limit must be at least 16 pixels.")


def inpaint(
    image: ImageData,
    mask: MaskSource,
    model: Inpainter,
    *,
    strategy: str = "crop",
    dilate: int = 0,
    feather: int = 0,
    margin: int = 128,
    resize_limit: int = 1024,
    progress: Progress | None = None,
) -> InpaintResult:
    """Fill the masked pixels of ``image`` with ``model``; pixels outside the mask are returned as they were.

    ``feather`` blends the fill into the original over that many pixels *inside* the mask, so
    nothing outside changes. Grayscale images are filled in colour and averaged back to gray.
    """
    _check_params(strategy, dilate, feather, margin, resize_limit)
    m, notices = prepare_mask(mask, image.size, dilate)
    keep = m[0, 0].numpy() > 0.5
    if not keep.any():
        notices.append("The mask is empty: the image is returned unchanged.")
        return InpaintResult(image, notices, m)
    if keep.all():
        # every model would invent a picture from nothing (black from the learned ones, the input from Telea)
        grown = ""
        if dilate and not bool((prepare_mask(mask, image.size, 0)[0] > 0.5).all()):
            grown = f" once grown by {dilate} px"
        raise InvalidInputError(
            f"The mask covers the whole image{grown}: inpainting fills a region from what surrounds it, and "
            "nothing does. Mark only what should go."
        )

    rgb = image.rgb
    h, w = rgb.shape[-2:]
    if strategy == "crop":
        boxes = _boxes_for(keep, margin)
        limit: int | None = resize_limit
    else:
        boxes = [(0, 0, w, h)]
        limit = resize_limit if strategy == "resize" else None

    result = rgb.clone()
    downscaled = False
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if progress is not None:
            progress(i / len(boxes), f"Inpainting region {i + 1} of {len(boxes)}")
        crop_rgb = rgb[..., y0:y1, x0:x1]
        crop_mask = m[..., y0:y1, x0:x1]
        out, small = _fill(model, crop_rgb, crop_mask, limit)
        downscaled |= small
        if image.grayscale:
            out = out.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        weight = _feather_weight(keep, (x0, y0, x1, y1), feather) if feather > 0 else None
        _paste(result[..., y0:y1, x0:x1], crop_rgb, out, crop_mask, weight)
        del out, weight
    if progress is not None:
        progress(1.0, "Inpainting done")
    if downscaled:
        notices.append(f"Large areas were inpainted at most {resize_limit} px on the long side and scaled back up.")
    alpha = image.alpha
    if alpha is not None:
        region = m > 0.5
        alpha = torch.where(region, alpha_from_surroundings(alpha, region), alpha)
    # Not with_pixels: its clamp would copy the whole image again.
    return InpaintResult(replace(image, rgb=result, alpha=alpha), notices, m)


def alpha_from_surroundings(alpha: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Alpha (1,1,H,W) with the pixels of ``region`` (bool, same shape) filled from those around them
    (OpenCV Navier-Stokes, radius 3; its Telea goes outside [0, 1] on float input); opaque where nothing is
    around. Only the region's bounding box (and a few pixels) is computed; outside the region the values are
    those of ``alpha``."""
    import cv2

    ys, xs = torch.nonzero(region[0, 0], as_tuple=True)
    if len(ys) == 0:
        return alpha
    h, w = alpha.shape[-2:]
    y0, y1 = max(0, int(ys.min()) - 4), min(h, int(ys.max()) + 5)
    x0, x1 = max(0, int(xs.min()) - 4), min(w, int(xs.max()) + 5)
    part, hole = alpha[0, 0, y0:y1, x0:x1], region[0, 0, y0:y1, x0:x1]
    out = alpha.clone()
    if bool(hole.all()):
        out[0, 0, y0:y1, x0:x1] = 1.0
    elif not bool((part == 1).all()):  # an opaque neighbourhood needs no work
        a = np.ascontiguousarray(part.float().numpy())
        filled = cv2.inpaint(a, hole.numpy().astype(np.uint8), 3, cv2.INPAINT_NS)
        out[0, 0, y0:y1, x0:x1] = torch.from_numpy(filled).clamp(0, 1).to(alpha.dtype)
    return out


def default_model_fill(
    models: Callable[[], ModelCache],
    model_id: Callable[[], str] | None = None,
    download: DownloadProgress | None = None,
) -> Callable[[ImageData, torch.Tensor], ImageData]:
    """An edit recipe's content-aware fill (the app's and the CLI's): an inpainting model, on crops around each
    region. ``models`` hands over the model cache, asked once, at the first fill; ``model_id`` names the model
    (the app's default resolved at start-up), else the registry's default."""
    cache: ModelCache | None = None

    def fill(image: ImageData, mask: torch.Tensor) -> ImageData:
        nonlocal cache
        if cache is None:
            cache = models()
        chosen = model_id() if model_id else cache.registry.default_for(Task.INPAINT).id
        return inpaint(image, mask, cache.get(chosen, progress=download), strategy="crop").image

    return fill


__all__ = [
    "STRATEGIES",
    "InpaintResult",
    "alpha_from_surroundings",
    "default_model_fill",
    "inpaint",
    "prepare_mask",
]
