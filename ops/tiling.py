"""Tiled inference for image-to-image networks: overlapping tiles, feathered blending, OOM backoff.

Each tile is run with ``overlap`` pixels of shared context on every interior side. In that
shared band the outer quarter is context only (weight 0: the network saw zero padding there),
the middle half is cross-faded with a feathered window and the inner quarter has full weight;
image borders get no ramp. The blended result is normalised by the summed weights, so there
are no seams, and for a network whose receptive radius is below ``overlap // 4`` the tiled
output equals the untiled one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F

from core.errors import ImageTooLargeError, InvalidInputError, is_out_of_memory
from core.progress import Progress

T = TypeVar("T")

#: Working memory assumed per output pixel (activations of a 64-channel network, with margin).
DEFAULT_BYTES_PER_PIXEL = 2048
#: Memory a CPU run may use for one tile (small tiles also keep progress reports frequent).
CPU_TILE_BUDGET = 512 * 1024**2  # floor; the real budget is a share of physical memory
#: Same for Apple's MPS, whose free memory cannot be queried.
MPS_TILE_BUDGET = 2 * 1024**3
MIN_TILE = 32
MAX_AUTO_TILE = 2048
WINDOWS = ("linear", "sine")


def _tile_count_and_size(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, int]:
    """(tiles, tile side) along one axis: the fewest tiles of at most ``tile`` pixels that cover ``length``
    with ``overlap`` between neighbours, made equal in size (rounded up to ``multiple``, never past ``tile``).
    Equal tiles matter for speed: 512 px in tiles of 416 would otherwise run 2 x 416 = 832 px (the last tile
    shifted back over the first), where 2 x 264 cover it."""
    if length <= tile:
        return 1, length
    n = math.ceil((length - overlap) / max(1, tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n)
    size = min(tile, length, size + (-size) % multiple)
    return n, size


def _starts(length: int, n: int, size: int) -> list[int]:
    """``n`` tile starts spread evenly from 0 to ``length - size``; neighbours then overlap by at least the
    overlap _tile_count_and_size planned for (its size leaves (length - size) / (n - 1) <= size - overlap)."""
    if n == 1:
        return [0]
    return [(i * (length - size)) // (n - 1) for i in range(n)]


def _ramp(n: int, window: str) -> torch.Tensor:
    """n strictly increasing weights in (0, 1), symmetric so that ramp + reversed ramp == 1."""
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    if window == "sine":
        return torch.sin(u * math.pi / 2) ** 2
    return u


def _axis_weight(size: int, lo_interior: bool, hi_interior: bool, overlap: int, window: str) -> torch.Tensor:
    """1D blending weights for one tile edge-to-edge (output pixels)."""
    w = torch.ones(size, dtype=torch.float64)
    margin = overlap // 4
    ramp_len = overlap - 2 * margin
    if ramp_len <= 0:
        return w
    ramp = _ramp(ramp_len, window)
    if lo_interior:
        w[:margin] = 0
        w[margin : margin + ramp_len] *= ramp
    if hi_interior:
        w[size - margin :] = 0
        w[size - margin - ramp_len : size - margin] *= ramp.flip(0)
    return w


def _axis_plan(
    length: int, tile: int, overlap: int, scale: int, window: str, multiple: int = 1
) -> list[tuple[int, int, torch.Tensor]]:
    """(start, size, normalised output weights) per tile along one axis."""
    n, size = _tile_count_and_size(length, tile, overlap, multiple)
    starts = _starts(length, n, size)
    total = torch.zeros(length * scale, dtype=torch.float64)
    raw = []
    for i, s in enumerate(starts):
        w = _axis_weight(size * scale, i > 0, i < len(starts) - 1, overlap * scale, window)
        total[s * scale : (s + size) * scale] += w
        raw.append((s, size, w))
    return [(s, n, (w / total[s * scale : (s + n) * scale]).float()) for s, n, w in raw]


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _run_tile(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: int, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    y = fn(_pad_to_multiple(x, multiple))
    if y.ndim != 4 or y.shape[-2] < h * scale or y.shape[-1] < w * scale:
        raise InvalidInputError(
            f"The model returned a {tuple(y.shape)} tile for a {h}x{w} input; expected x{scale} that size."
        )
    return y[..., : h * scale, : w * scale]


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    tile: int | None = None,
    overlap: int = 16,
    progress: Progress | None = None,
    size_multiple: int = 1,
    window: str = "linear",
) -> torch.Tensor:
    """Apply ``fn`` ((1,C,h,w) -> (1,C',h*scale,w*scale)) to ``x`` tile by tile, blending seamlessly.

    ``tile=None`` or a tile at least as large as the image runs ``fn`` once. ``progress`` gets
    (fraction done, "tile i/n") after each tile. Inputs are reflect-padded to ``size_multiple``
    and outputs cropped back. ``window`` is the feather shape: "linear" or "sine" (half-sine).
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidInputError(f"Expected one image as a (1,C,H,W) tensor, got {tuple(x.shape)}.")
    if scale < 1:
        raise InvalidInputError(f"The tile scale must be a positive integer, got {scale}.")
    if window not in WINDOWS:
        raise InvalidInputError(f"Unknown blending window {window!r} (use {' or '.join(WINDOWS)}).")
    h, w = x.shape[-2:]
    multiple = max(1, int(size_multiple))
    with torch.no_grad():
        if tile is None or tile >= max(h, w):
            out = _run_tile(fn, x, scale, multiple)
            if progress is not None:
                progress(1.0, "tile 1/1")
            return out
        if tile < 1:
            raise InvalidInputError(f"The tile size must be positive, got {tile}.")
        tile = max(multiple, tile - tile % multiple)
        ov = max(0, min(int(overlap), tile // 2))
        rows = _axis_plan(h, tile, ov, scale, window, multiple)
        cols = _axis_plan(w, tile, ov, scale, window, multiple)
        n = len(rows) * len(cols)
        out: torch.Tensor | None = None
        i = 0
        for y0, th, wy in rows:
            for x0, tw, wx in cols:
                y = _run_tile(fn, x[..., y0 : y0 + th, x0 : x0 + tw], scale, multiple)
                if out is None:
                    out = torch.zeros(1, y.shape[1], h * scale, w * scale, dtype=torch.float32, device=y.device)
                weight = (wy[:, None] * wx[None, :]).to(y.device)
                # one pass over the tile: out += y * weight in place
                out[..., y0 * scale : (y0 + th) * scale, x0 * scale : (x0 + tw) * scale].addcmul_(y.float(), weight)
                i += 1
                if progress is not None:
                    progress(i / n, f"tile {i}/{n}")
        return out


def auto_tile_size(
    device: torch.device,
    channels: int = 3,
    scale: int = 4,
    bytes_per_pixel_budget: int = DEFAULT_BYTES_PER_PIXEL,
) -> int:
    """A tile side (input pixels, multiple of 32) that should fit in the device's free memory.

    CUDA asks the driver for free memory and uses 60% of it; CPU and MPS use fixed budgets.
    ``bytes_per_pixel_budget`` is the working memory per output pixel; input and output
    tensors of ``channels`` channels are added on top.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        budget = int(free * 0.6)
    elif device.type == "mps":
        budget = MPS_TILE_BUDGET
    else:
        budget = max(CPU_TILE_BUDGET, min(8 * 1024**3, _physical_memory() // 4))
    s2 = max(1, scale) ** 2
    per_input_pixel = bytes_per_pixel_budget * s2 + 4 * channels * (1 + s2)
    side = int(math.sqrt(max(budget, 0) / per_input_pixel))
    side -= side % 32
    return max(2 * MIN_TILE, min(MAX_AUTO_TILE, side))


def _physical_memory() -> int:
    """Bytes of RAM (0 where the OS does not say): small CPU tiles waste time on overlap."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


def run_with_oom_backoff(
    run: Callable[[int], T],
    tile: int,
    min_tile: int = MIN_TILE,
    on_retry: Callable[[int], None] | None = None,
) -> T:
    """Call ``run(tile)``, halving the tile on out-of-memory down to ``min_tile``.

    ``on_retry(new_tile)`` is told about each retry. Below the minimum the error becomes an
    :class:`ImageTooLargeError` with a sentence for the user; other errors pass through.
    """
    current = max(1, int(tile))
    while True:
        try:
            return run(current)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_cached_memory()
            if current <= min_tile:
                raise ImageTooLargeError(
                    f"There is not enough memory to process this image, even in tiles of {current} pixels. "
                    "Try a smaller image or scale, a lighter model, or close other programs using the GPU."
                ) from exc
            current = max(min_tile, current // 2)
            if on_retry is not None:
                on_retry(current)
