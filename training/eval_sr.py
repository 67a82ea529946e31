"""Evaluate a super-resolution model against bicubic on the held-out photos (PSNR-Y / SSIM-Y).

The protocol (crops, LR, baselines, metrics) is the one training and the bench use, defined in
``training/evaluation.py``; ``--crop`` sets the ground-truth crop (default 512 px).

Run ``python -m training.eval_sr --weights runs/sr4/final.safetensors --scale 4
--json runs/sr4/eval.json --grid assets/sr-compact-x4-grid.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from training.evaluation import bicubic_up, center_crop, load_rgb, make_lr, psnr_y, ssim_y, val_crops, val_photos

Upscale = Callable[[torch.Tensor], torch.Tensor]


def evaluate(upscale: Upscale, scale: int, photos_dir: Path, crop: int = 512, border: int = 4) -> dict:
    """Per-photo and mean PSNR-Y/SSIM-Y of ``upscale`` and of bicubic on the validation crops."""
    rows = []
    for name, hr in val_crops(photos_dir, crop, scale):
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
