"""Cut an object out of its background: a matte from a cutout model, refined, and the edge colours cleaned.

The result is an RGBA image the size of the input whose alpha is the matte. A box (x, y, width, height) limits
the work to the box grown by :func:`box_margin`: the model sees only that crop (a network finds the object in
it, GrabCut starts from the box), and nothing outside the box is kept. Edge pixels mix the object's colour with
the old background's; decontamination estimates that background near the edge and takes it out, so the cut-out
shows no halo of it on a new background.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InvalidInputError, quoted
from core.image import ImageData
from core.progress import DownloadProgress
from models.adapters import Box, Matter
from models.registry import Task
from models.runtime import ModelCache

#: Largest grow or shrink of the matte, in pixels.
MAX_GROW = 100
#: Largest feather (Gaussian sigma of the matte's edge), in pixels.
MAX_FEATHER = 50.0
#: Alpha below which a pixel's own colour is too weak to solve for the object's: it takes the nearby object's.
MIN_SOLVE_ALPHA = 0.05


@dataclass(frozen=True)
class Refine:
    """How the matte is finished: ``grow`` pixels outwards (negative shrinks), an edge ``feather`` (sigma in
    pixels), and ``decontaminate`` the edge colours of the old background."""

    grow: int = 0
    feather: float = 0.0
    decontaminate: bool = True

    def __post_init__(self) -> None:
        if not -MAX_GROW <= int(self.grow) <= MAX_GROW:
            raise InvalidInputError(f"Grow must be between -{MAX_GROW} and {MAX_GROW} pixels, not {self.grow}.")
        if not 0 <= float(self.feather) <= MAX_FEATHER:
            raise InvalidInputError(f"Feather must be between 0 and {MAX_FEATHER:g} pixels, not {self.feather}.")


def parse_box(text: str) -> Box:
    """'X,Y,W,H' (whole pixels; spaces allowed) as a box; anything else is an :class:`InvalidInputError`."""
    parts = re.split(r"\s*,\s*", str(text).strip())
    if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise InvalidInputError(f"A box is four whole numbers X,Y,WIDTH,HEIGHT in pixels, not {quoted(text)}.")
    x, y, w, h = (int(p) for p in parts)
    return x, y, w, h


def check_box(box: Box, width: int, height: int) -> Box:
    """``box`` clipped to a ``width`` x ``height`` image; an empty box, or one wholly outside, is refused."""
    x, y, w, h = (int(v) for v in box)
    if w < 1 or h < 1:
        raise InvalidInputError(f"The box must be at least 1 pixel wide and high, not {w}x{h}.")
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        raise InvalidInputError(f"The box {x},{y},{w},{h} lies outside the {width}x{height} image.")
    return x0, y0, x1 - x0, y1 - y0


def box_margin(box: Box) -> int:
    """Pixels of surroundings the model sees around a box: a tenth of its longer side, at least 16."""
    return max(16, round(0.1 * max(box[2], box[3])))


def matte(image: ImageData, model: Matter, box: Box | None = None, points: torch.Tensor | None = None) -> torch.Tensor:
    """The object's alpha (1,1,H,W) for ``image``, from ``model``, inside ``box`` when given; ``points`` on the
    object ((N, 2) x, y in image pixels) prompt a model that takes them (:attr:`Matter.takes_points`)."""
    if box is None:
        return model(image.rgb, None)
    x, y, w, h = check_box(box, image.width, image.height)
    m = box_margin((x, y, w, h))
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(image.width, x + w + m), min(image.height, y + h + m)
    crop = image.rgb[..., y0:y1, x0:x1]
    alpha = torch.zeros(1, 1, image.height, image.width)
    if points is not None and model.takes_points:
        inner = model(crop, (x - x0, y - y0, w, h), points=points.float() - torch.tensor([x0, y0]))
    else:
        inner = model(crop, (x - x0, y - y0, w, h))
    alpha[..., y0:y1, x0:x1] = inner
    keep = torch.zeros_like(alpha)
    keep[..., y : y + h, x : x + w] = 1
    return alpha * keep


def strokes_region(strokes: torch.Tensor) -> Box | None:
    """The square a selection looks in, from strokes (1,1,H,W) painted on an object: centred on them, twice as
    wide as their longer side (a stroke across an object spans about its width), at least 32 px, clipped to the
    image; None when nothing is painted."""
    shown = strokes[0, 0] > 0
    rows, cols = torch.nonzero(shown.any(1)).flatten(), torch.nonzero(shown.any(0)).flatten()
    if rows.numel() == 0:
        return None
    h, w = shown.shape
    cy, cx = (int(rows[0]) + int(rows[-1]) + 1) / 2, (int(cols[0]) + int(cols[-1]) + 1) / 2
    side = max(32, 2 * max(int(rows[-1]) - int(rows[0]) + 1, int(cols[-1]) - int(cols[0]) + 1))
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x1, y1 = min(w, round(cx + side / 2)), min(h, round(cy + side / 2))
    return x0, y0, x1 - x0, y1 - y0


#: Points a selection's strokes give a promptable model: SAM was trained with up to a handful of clicks.
STROKE_POINTS = 8


def stroke_points(strokes: torch.Tensor, count: int = STROKE_POINTS) -> torch.Tensor | None:
    """Up to ``count`` painted pixels of ``strokes`` (1,1,H,W), as (N, 2) x, y: the middle of the brush's width,
    spread evenly along the strokes' longer extent (left to right, or top to bottom); None when nothing is
    painted."""
    shown = (strokes[0, 0] > 0).numpy().astype(np.uint8)
    if not shown.any():
        return None
    dist = cv2.distanceTransform(np.pad(shown, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    core = dist >= 0.6 * dist.max()  # the middle of the brush's width
    ys, xs = np.nonzero(core)
    wide = np.ptp(xs) >= np.ptp(ys)
    order = np.lexsort((ys, xs)) if wide else np.lexsort((xs, ys))  # the last key sorts first
    pick = order[np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)]
    return torch.from_numpy(np.stack([xs[pick], ys[pick]], 1).astype(np.float32))


def select_object(image: ImageData, model: Matter, strokes: torch.Tensor | None = None, grow: int = 3) -> torch.Tensor:
    """A mask (1,1,H,W) of 0/1 of the object that ``strokes`` (1,1,H,W; > 0 = painted) lie on: the matte in the
    square around the strokes (:func:`strokes_region`), the parts of it the strokes touch (all of it if they
    touch none), grown by ``grow`` pixels as a painted mask covers an edge. No strokes: the image's main subject."""
    region = strokes_region(strokes) if strokes is not None else None
    points = stroke_points(strokes) if region is not None else None
    picked = (matte(image, model, region, points) > 0.5)[0, 0].numpy().astype(np.uint8)
    if region is not None and picked.any():
        count, labels = cv2.connectedComponents(picked, connectivity=8)
        touched = np.unique(labels[(strokes[0, 0].numpy() > 0) & (picked > 0)])
        if touched.size:
            picked = np.isin(labels, touched).astype(np.uint8)
    return grow_matte(torch.from_numpy(picked.astype(np.float32))[None, None], grow)


def grow_matte(alpha: torch.Tensor, pixels: int) -> torch.Tensor:
    """Grey-level dilation (``pixels`` > 0) or erosion (< 0) of the matte by a disc of that radius."""
    if pixels == 0:
        return alpha
    r = abs(int(pixels))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    a = alpha[0, 0].numpy().astype(np.float32)
    out = cv2.dilate(a, disc) if pixels > 0 else cv2.erode(a, disc, borderType=cv2.BORDER_REPLICATE)
    return torch.from_numpy(out)[None, None]


#: Largest grid, in pixels, on which the local background and object colours are estimated: the estimates are
#: smooth (means over several pixels), so a big picture is averaged down in blocks to at most this size first.
ESTIMATE_PIXELS = 1_000_000
#: Rows of full-resolution pixels worked on at once (times the picture's width): bounds the extra memory.
BAND_PIXELS = 1_000_000


def _pool(x: torch.Tensor, f: int) -> torch.Tensor:
    """Block means of ``x`` (1,C,H,W) over f x f blocks (the last ones partial)."""
    return x if f == 1 else F.avg_pool2d(x, f, ceil_mode=True)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REPLICATE)


def _local_mean(sums: torch.Tensor, sigma: float) -> torch.Tensor:
    """Local weighted mean colour (1,3,h,w) from block sums (1,4,h,w) of colour x weight (channels 0-2) and
    weight (channel 3), over a Gaussian of ``sigma`` blocks; where too few weighted pixels lie within reach, over
    a Gaussian 4 and 16 times wider (a pyramid: the same blur on a 4x and 16x coarser grid), then the image's."""
    h, w = sums.shape[-2:]
    total = sums.sum((2, 3), keepdim=True)
    out = (total[:, :3] / total[:, 3:].clamp_min(1e-6)).expand(1, 3, h, w).clone()
    todo = torch.ones(1, 1, h, w, dtype=torch.bool)
    level = sums
    for _ in range(3):
        blurred = torch.from_numpy(_blur(level[0].permute(1, 2, 0).contiguous().numpy(), sigma)).permute(2, 0, 1)[None]
        if blurred.shape[-2:] != (h, w):
            blurred = F.interpolate(blurred, size=(h, w), mode="bilinear", align_corners=False)
        ok = todo & (blurred[:, 3:] > 1e-3)
        out = torch.where(ok, blurred[:, :3] / blurred[:, 3:].clamp_min(1e-6), out)
        todo &= ~ok
        if not bool(todo.any()) or min(level.shape[-2:]) < 2:
            break
        level = _pool(level, 4)
    return out


def feather_matte(alpha: torch.Tensor, sigma: float) -> torch.Tensor:
    """The matte blurred by a Gaussian of ``sigma`` pixels: a soft edge."""
    if sigma <= 0:
        return alpha
    return torch.from_numpy(_blur(alpha[0, 0].numpy().astype(np.float32), sigma))[None, None].clamp(0, 1)


def _upsample_rows(grid: torch.Tensor, f: int, r0: int, r1: int, width: int) -> torch.Tensor:
    """Rows ``r0:r1`` (r0 a multiple of ``f``) of ``grid`` (1,C,h,w) bilinearly upsampled ``f`` times, cropped to
    ``width``: the same values as upsampling the whole grid, since each output row reads only its two nearest
    grid rows, which the slab (one grid row of margin each side) holds."""
    if f == 1:
        return grid[..., r0:r1, :width]
    g0, g1 = max(0, r0 // f - 1), min(grid.shape[-2], -(-r1 // f) + 1)
    slab = F.interpolate(grid[..., g0:g1, :], scale_factor=f, mode="bilinear", align_corners=False)
    return slab[..., r0 - g0 * f : r1 - g0 * f, :width]


def decontaminate(rgb: torch.Tensor, alpha: torch.Tensor, sigma: float = 8.0) -> torch.Tensor:
    """Object colours for ``rgb`` (1,3,H,W) seen through ``alpha`` (1,1,H,W): each pixel is
    alpha * object + (1 - alpha) * background, with the background estimated as the local mean of the pixels
    outside the object, so object = (pixel - (1 - alpha) * background) / alpha. Opaque pixels keep their colour;
    nearly transparent ones (and fully transparent ones, which nothing shows) take the nearby object colour.
    Works in bands of rows, on estimates made on a grid of at most :data:`ESTIMATE_PIXELS`, so its extra memory
    and time stay small on any picture the app accepts."""
    h, w = rgb.shape[-2:]
    if not bool(((alpha > 0) & (alpha < 1)).any()):
        return rgb
    f = max(1, math.ceil(math.sqrt(h * w / ESTIMATE_PIXELS)))
    rows = max(f, BAND_PIXELS // max(w, 1) // f * f)  # whole blocks per band, so the pooling lines up
    back_sums, front_sums = [], []
    for r0 in range(0, h, rows):
        img, a = rgb[..., r0 : r0 + rows, :].float(), alpha[..., r0 : r0 + rows, :].float()
        wb = (a <= 0.02) * (1 - a)
        wf = (a >= 0.98) * a
        back_sums.append(_pool(torch.cat([img * wb, wb], 1), f))
        front_sums.append(_pool(torch.cat([img * wf, wf], 1), f))
    s = max(0.5, sigma / f)
    back = _local_mean(torch.cat(back_sums, 2), s)
    front = _local_mean(torch.cat(front_sums, 2), s)
    out = rgb.clone()
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        img, a = rgb[..., r0:r1, :].float(), alpha[..., r0:r1, :].float()
        if bool((a >= 1).all()):
            continue  # opaque rows keep their colour
        b = _upsample_rows(back, f, r0, r1, w)
        solved = ((img - (1 - a) * b) / a.clamp_min(MIN_SOLVE_ALPHA)).clamp(0, 1)
        band = torch.where(a >= MIN_SOLVE_ALPHA, solved, _upsample_rows(front, f, r0, r1, w))
        out[..., r0:r1, :] = torch.where(a >= 1, img, band).to(out.dtype)
    return out


def cutout(image: ImageData, model: Matter, box: Box | None = None, refine: Refine | None = None) -> ImageData:
    """``image`` with its background transparent (RGBA, the input's size and metadata); the input's own alpha
    is kept (a pixel already transparent stays so)."""
    refine = refine or Refine()
    alpha = feather_matte(grow_matte(matte(image, model, box), int(refine.grow)), float(refine.feather))
    rgb = decontaminate(image.rgb, alpha) if refine.decontaminate else image.rgb
    if image.alpha is not None:
        alpha = alpha * image.alpha
    return image.with_pixels(rgb, alpha)


def matte_image(cut: ImageData) -> ImageData:
    """The alpha of a cut-out as an opaque grey image (white = object), for ``--mask-only``."""
    a = cut.alpha if cut.alpha is not None else torch.ones_like(cut.rgb[:, :1])
    return ImageData(rgb=a.expand(1, 3, -1, -1).contiguous(), grayscale=True, dpi=cut.dpi)


#: An edit recipe's cut-out: image, optional box, matte finish -> the RGBA cut-out.
Cutter = Callable[[ImageData, "Box | None", Refine], ImageData]


def default_cutter(
    models: Callable[[], ModelCache],
    model_id: Callable[[], str] | None = None,
    download: DownloadProgress | None = None,
) -> Cutter:
    """An edit recipe's "remove background" (the app's and the CLI's): a cutout model. ``models`` hands over the
    model cache, asked once, at the first cut; ``model_id`` names the model (the app's default resolved at
    start-up), else the registry's default."""
    cache: ModelCache | None = None

    def cut(image: ImageData, box: Box | None, refine: Refine) -> ImageData:
        nonlocal cache
        if cache is None:
            cache = models()
        chosen = model_id() if model_id else cache.registry.default_for(Task.CUTOUT).id
        return cutout(image, cache.get(chosen, progress=download), box, refine)

    return cut
