"""Imaging primitives every layer shares: resampling, luma, premultiplied alpha (tensors (N,C,H,W) in [0, 1])."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

#: Rec.601 luma weights, as PIL's "L" conversion and ImageEnhance.Color use them.
LUMA = (0.299, 0.587, 0.114)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) -> (N,1,H,W) Rec.601 luma."""
    return LUMA[0] * rgb[:, 0:1] + LUMA[1] * rgb[:, 1:2] + LUMA[2] * rgb[:, 2:3]


def premultiply(chans: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Straight channels (N,C,H,W) and alpha (N,1,H,W) -> premultiplied (N,C+1,H,W), alpha last."""
    return torch.cat([chans * alpha, alpha], dim=1)


def unpremultiply(prem: torch.Tensor, threshold: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Premultiplied (N,C+1,H,W), alpha last -> (straight channels, alpha); channels are 0 where alpha is at or
    below ``threshold`` (fully transparent, or too faint to divide by without noise)."""
    alpha = prem[:, -1:].clamp(0, 1)
    safe = alpha.clamp_min(max(threshold, 1e-12))
    chans = torch.where(alpha > threshold, prem[:, :-1] / safe, torch.zeros_like(prem[:, :-1]))
    return chans.clamp(0, 1), alpha


#: Filters shared by classical resamplers, the edit tab and the final exact resample.
RESAMPLE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "area")


def resample(x: torch.Tensor, size: tuple[int, int], method: str = "bicubic") -> torch.Tensor:
    """Resize (N,C,H,W) to ``size`` = (height, width) with an antialiased filter when shrinking."""
    h, w = size
    if (h, w) == tuple(x.shape[-2:]):
        return x
    if method == "nearest":
        return F.interpolate(x, size=(h, w), mode="nearest-exact")
    if method == "area":
        if h <= x.shape[-2] and w <= x.shape[-1]:
            return F.interpolate(x, size=(h, w), mode="area")
        method = "bilinear"  # 'area' upscaling is bilinear by definition (as in OpenCV)
    if method == "lanczos":
        return _lanczos(x, (h, w))
    if method not in ("bilinear", "bicubic"):
        raise ValueError(f"unknown resample filter {method!r}")
    out = F.interpolate(x, size=(h, w), mode=method, align_corners=False, antialias=True)
    return out.clamp(0, 1) if method == "bicubic" else out


def _lanczos(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Lanczos-3 via PIL's float mode per channel: exact filter, any scale. Pillow releases the GIL while it
    resamples, so the planes are resized in a thread pool, side by side."""
    h, w = size
    n, c = x.shape[:2]
    arr = x.detach().float().cpu().numpy()
    out = np.empty((n, c, h, w), dtype=np.float32)

    def plane(ij: tuple[int, int]) -> None:
        i, j = ij
        im = Image.fromarray(arr[i, j], mode="F").resize((w, h), Image.Resampling.LANCZOS)
        out[i, j] = np.asarray(im)

    planes = [(i, j) for i in range(n) for j in range(c)]
    workers = max(1, min(len(planes), os.cpu_count() or 1))
    if workers == 1:
        for ij in planes:
            plane(ij)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(plane, planes))
    return torch.from_numpy(out).clamp(0, 1).to(x.device)
