"""Ganvas inpaint: a compact U-Net that refines a classical fill of the hole (trained here, CPU).

The hole is first filled without learning: by OpenCV's Telea method (``base="telea"``, the
shipped model) or by a parameter-free push-pull pyramid (masked averages, coarse to fine;
``base="pushpull"``, the first model). The U-Net (dilated residual blocks at 1/8 resolution) sees
the holed image, the mask and that fill, and predicts a correction added to the fill. Its output
head starts at zero, so an untrained network returns the classical fill exactly. Only hole
pixels are replaced.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_PARAMS: dict = {"channels": [24, 48, 96, 128], "blocks": 4, "base": "pushpull"}
BASES = ("pushpull", "telea")


def telea_fill(image: torch.Tensor, hole: torch.Tensor, radius: int = 5) -> torch.Tensor:
    """OpenCV Telea fill of each image's hole (8-bit, as OpenCV requires); no gradient flows through it."""
    import cv2
    import numpy as np

    out = []
    imgs = (image.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    holes = (hole.detach() > 0.5).to(torch.uint8).mul(255)[:, 0].cpu().numpy()
    for img, m in zip(imgs, holes, strict=True):
        filled = cv2.inpaint(np.ascontiguousarray(img), np.ascontiguousarray(m), radius, cv2.INPAINT_TELEA)
        out.append(torch.from_numpy(filled))
    return (torch.stack(out).permute(0, 3, 1, 2).to(image.device, torch.float32) / 255.0).to(image.dtype)


def push_pull_fill(image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Fill pixels where ``valid`` is 0 by upsampling masked averages from coarser levels."""
    levels: list[tuple[torch.Tensor, torch.Tensor]] = []
    v, w = image * valid, valid
    while True:
        levels.append((v, w))
        if max(v.shape[-2:]) <= 1:
            break
        w_next = F.avg_pool2d(w, 2, ceil_mode=True)
        v_next = F.avg_pool2d(v * w, 2, ceil_mode=True) / w_next.clamp_min(1e-6)
        v, w = v_next, w_next
    filled = levels[-1][0]
    for v, w in reversed(levels[:-1]):
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        # A pixel with some valid support at this level keeps its own average.
        keep = (w * 4).clamp(0, 1)
        filled = keep * v + (1 - keep) * up
    return filled


def _pad_mode(h: int, w: int, ph: int, pw: int) -> str:
    return "reflect" if ph < h and pw < w else "replicate"


class _ResBlock(nn.Module):
    """Two dilated 3x3 convolutions with a residual connection."""

    def __init__(self, ch: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Scaled residual (as in EDSR): keeps a normalisation-free stack stable in training.
        return x + 0.1 * self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class GanvasInpaintNet(nn.Module):
    """forward(image (N,3,H,W) in [0,1], mask (N,1,H,W) 1 = hole) -> composite (N,3,H,W)."""

    def __init__(
        self, channels: list[int] | tuple[int, ...] = (24, 48, 96, 128), blocks: int = 4, base: str = "pushpull"
    ) -> None:
        super().__init__()
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, not {base!r}")
        self.base = base
        ch = list(channels)
        self.size_multiple = 2 ** (len(ch) - 1)
        self.stem = nn.Conv2d(7, ch[0], 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 4, stride=2, padding=1) for i in range(len(ch) - 1))
        dilations = (1, 2, 4, 8)
        self.body = nn.Sequential(*(_ResBlock(ch[-1], dilations[i % len(dilations)]) for i in range(blocks)))
        self.up = nn.ModuleList(nn.Conv2d(ch[i + 1] + ch[i], ch[i], 3, padding=1) for i in reversed(range(len(ch) - 1)))
        self.refine = nn.ModuleList(nn.Conv2d(ch[i], ch[i], 3, padding=1) for i in reversed(range(len(ch) - 1)))
        self.head = nn.Conv2d(ch[0], 3, 3, padding=1)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(mod.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Raw prediction everywhere (used for training); sizes must be multiples of size_multiple."""
        m = (mask > 0.5).to(image.dtype)
        holed = image * (1 - m)
        if self.base == "telea":
            coarse = telea_fill(holed, m)
        else:
            coarse = push_pull_fill(holed.float(), (1 - m).float()).to(image.dtype)
        x = F.leaky_relu(self.stem(torch.cat([holed, m, coarse], 1)), 0.2)
        skips = []
        for conv in self.down:
            skips.append(x)
            x = F.leaky_relu(conv(x), 0.2)
        x = self.body(x)
        for up, refine, skip in zip(self.up, self.refine, reversed(skips), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = F.leaky_relu(up(torch.cat([x, skip], 1)), 0.2)
            x = F.leaky_relu(refine(x), 0.2)
        return coarse + self.head(x)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        k = self.size_multiple
        ph, pw = (-h) % k, (-w) % k
        hole = mask > 0.5
        img, msk = image, hole.to(image.dtype)
        if ph or pw:
            mode = _pad_mode(h, w, ph, pw)
            img = F.pad(image, (0, pw, 0, ph), mode=mode)
            msk = F.pad(msk, (0, pw, 0, ph), mode=mode)
        pred = self.predict(img, msk)[..., :h, :w].clamp(0, 1)
        return torch.where(hole, pred, image)


def build(params: dict | None = None) -> GanvasInpaintNet:
    """The network for a spec's ``params`` (architecture config only)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    return GanvasInpaintNet(channels=tuple(p["channels"]), blocks=int(p["blocks"]), base=str(p["base"]))
