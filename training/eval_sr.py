"""Evaluate a super-resolution model against bicubic on the held-out photos (PSNR-Y / SSIM-Y).

Protocol (the same in training, here and in the bench): ground truth = a fixed centre crop of
each validation photo (``--crop`` px, default 512, cut to a multiple of the scale); LR = antialiased
bicubic downscaling of the ground truth (``torch`` ``F.interpolate(mode="bicubic", antialias=True)``)
rounded to 8 bits; bicubic baseline = the app's bicubic upscaling of that LR
(``F.interpolate(mode="bicubic", antialias=True)``, Keys a=-0.5 as PIL/MATLAB), and also torch's
sharper plain bicubic (a=-0.75) as a stricter reference.
Metrics on ITU-R BT.601 luma Y (16-235 scale) after cropping ``border`` (default 4) px on every side.

Run ``python -m training.eval_sr --weights runs/sr4/final.safetensors --scale 4
--json runs/sr4/eval.json --grid assets/sr-compact-x4-grid.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

Upscale = Callable[[torch.Tensor], torch.Tensor]


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma on the 16-235 scale, as in the SR literature: (N,3,H,W) in [0,1] -> (N,1,H,W) in [0,255]."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def _crop_border(x: torch.Tensor, border: int) -> torch.Tensor:
    return x[..., border : x.shape[-2] - border, border : x.shape[-1] - border] if border > 0 else x


def psnr_y(pred: torch.Tensor, target: torch.Tensor, border: int = 4) -> float:
    """PSNR in dB on the Y channel (peak 255) after cropping ``border`` px; inputs RGB in [0,1]."""
    yp = _crop_border(rgb_to_y(pred.double().clamp(0, 1)), border)
    yt = _crop_border(rgb_to_y(target.double().clamp(0, 1)), border)
    mse = float(((yp - yt) ** 2).mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim_y(pred: torch.Tensor, target: torch.Tensor, border: int = 4) -> float:
    """SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, valid region) on Y after cropping ``border``."""
    x = _crop_border(rgb_to_y(pred.double().clamp(0, 1)), border)
    y = _crop_border(rgb_to_y(target.double().clamp(0, 1)), border)
    w = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mx * mx
    syy = F.conv2d(y * y, w) - my * my
    sxy = F.conv2d(x * y, w) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def make_lr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The degradation used everywhere: antialiased bicubic downscale by ``scale``, rounded to 8 bits."""
    lr = F.interpolate(hr, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)
    return (lr.clamp(0, 1) * 255.0).round() / 255.0


def bicubic_up(lr: torch.Tensor, scale: int, sharp: bool = False) -> torch.Tensor:
    """The classical baseline, bicubic upscaling by ``scale`` clamped to [0,1].

    The default is the app's bicubic (``antialias=True``: Keys a=-0.5, as PIL and MATLAB);
    ``sharp=True`` is torch's plain bicubic (a=-0.75, as OpenCV), a slightly stronger baseline.
    """
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False, antialias=not sharp).clamp(0, 1)


def load_rgb(path: Path) -> torch.Tensor:
    """Read a photo as a (1,3,H,W) float32 tensor in [0,1]."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255.0


def center_crop(img: torch.Tensor, size: int, multiple: int) -> torch.Tensor:
    """A centred crop of at most ``size`` px per side, cut down to a multiple of ``multiple``."""
    h, w = img.shape[-2:]
    ch = min(size, h) // multiple * multiple
    cw = min(size, w) // multiple * multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top : top + ch, left : left + cw]


def val_photos(photos_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of the held-out photos listed in the manifest written by ``photos.py``."""
    manifest = json.loads((photos_dir / "manifest.json").read_text())
    return [(p["name"], photos_dir / p["file"]) for p in manifest["photos"] if p["split"] == "val"]


def evaluate(upscale: Upscale, scale: int, photos_dir: Path, crop: int = 512, border: int = 4) -> dict:
    """Per-photo and mean PSNR-Y/SSIM-Y of ``upscale`` and of bicubic on the validation crops."""
    rows = []
    for name, path in val_photos(photos_dir):
        hr = center_crop(load_rgb(path), crop, scale)
        lr = make_lr(hr, scale)
        base = bicubic_up(lr, scale)
        sharp = bicubic_up(lr, scale, sharp=True)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = upscale(lr).clamp(0, 1)
        secs = time.perf_counter() - t0
        rows.append(
            {
                "photo": name,
                "size": list(hr.shape[-2:]),
                "psnr_bicubic": psnr_y(base, hr, border),
                "psnr_bicubic_sharp": psnr_y(sharp, hr, border),
                "psnr_model": psnr_y(out, hr, border),
                "ssim_bicubic": ssim_y(base, hr, border),
                "ssim_model": ssim_y(out, hr, border),
                "seconds": secs,
            }
        )
    keys = ("psnr_bicubic", "psnr_bicubic_sharp", "psnr_model", "ssim_bicubic", "ssim_model")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["psnr_gain"] = mean["psnr_model"] - mean["psnr_bicubic"]
    mean["psnr_gain_vs_sharp"] = mean["psnr_model"] - mean["psnr_bicubic_sharp"]
    mean["ssim_gain"] = mean["ssim_model"] - mean["ssim_bicubic"]
    return {"scale": scale, "crop": crop, "border": border, "n_photos": len(rows), "mean": mean, "photos": rows}


def load_model(weights: Path) -> torch.nn.Module:
    """Load an exported .safetensors through spandrel (the same path the app takes)."""
    from safetensors.torch import load_file
    from spandrel import ModelLoader

    desc = ModelLoader().load_from_state_dict(load_file(str(weights)))
    return desc.model.eval()


def crop_grid(upscale: Upscale, scale: int, photos_dir: Path, out: Path, n: int = 3, tile: int = 160) -> None:
    """Save a small PNG: rows of bicubic | model | ground truth crops from the validation photos."""
    photos = val_photos(photos_dir)
    picks = [photos[i * len(photos) // n] for i in range(n)]
    rows = []
    for _, path in picks:
        hr = center_crop(load_rgb(path), tile, scale)
        lr = make_lr(hr, scale)
        with torch.inference_mode():
            out_img = upscale(lr).clamp(0, 1)
        gap = torch.ones(1, 3, hr.shape[-2], 4)
        rows.append(torch.cat([bicubic_up(lr, scale), gap, out_img, gap, hr], dim=-1))
    width = max(r.shape[-1] for r in rows)
    rows = [F.pad(r, (0, width - r.shape[-1]), value=1.0) for r in rows]
    gap_h = torch.ones(1, 3, 4, width)
    parts = [p for r in rows for p in (r, gap_h)][:-1]
    grid = torch.cat(parts, dim=-2)[0]
    arr = (grid.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--scale", type=int, choices=(2, 4), required=True)
    ap.add_argument("--photos", type=Path, default=Path("data/photos"))
    ap.add_argument("--crop", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--grid", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    result = evaluate(model, args.scale, args.photos, crop=args.crop)
    result["weights"] = str(args.weights)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    if args.grid:
        crop_grid(model, args.scale, args.photos, args.grid)
    m = result["mean"]
    sys.stdout.write(
        f"x{args.scale} on {result['n_photos']} photos: PSNR-Y bicubic {m['psnr_bicubic']:.3f} model "
        f"{m['psnr_model']:.3f} (gain {m['psnr_gain']:+.3f} dB; {m['psnr_gain_vs_sharp']:+.3f} vs a=-0.75 "
        f"bicubic); SSIM-Y {m['ssim_bicubic']:.4f} -> {m['ssim_model']:.4f}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
