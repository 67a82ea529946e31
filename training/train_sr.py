"""Train a small Compact (SRVGGNetCompact) super-resolution model on the Debian photographs.

Run ``python -m training.train_sr --scale 4 --minutes 60 --out runs/sr4 --threads 1``
after ``python -m training.photos --out data/photos``. Ground-truth patches are cut from the
training photos (never the held-out ones), sampled in proportion to their gradient energy because
wallpapers have large out-of-focus areas, and cached as uint8 in ``data/``. Each step flips/rotates
them, makes the LR input with the same bicubic degradation as the evaluation
(:func:`training.evaluation.make_lr`) and takes an Adam step on the L1 loss; the learning rate
follows a cosine over the wall-clock budget. ``--resume`` continues from ``<out>/last.pt``.
The result is ``<out>/final.safetensors``: spandrel's Compact keys, fp32, with metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact

from training.evaluation import bicubic_up, make_lr, psnr_y, split_photos, val_crops

CHECKPOINT_SECONDS = 300
VAL_SECONDS = 300


def build_model(scale: int, num_feat: int, num_conv: int) -> Compact:
    """A Compact network whose last conv starts small, so training begins near the nearest-neighbour base."""
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=num_feat, num_conv=num_conv, upscale=scale, act_type="prelu")
    last = model.body[-1]
    with torch.no_grad():
        last.weight.mul_(0.1)
        last.bias.zero_()
    return model


class LinearUpscaler(torch.nn.Module):
    """Two grouped 3x3 convolutions (reach 5x5 LR px) plus the nearest-neighbour base: a linear upscaler
    shaped like the last two layers of a Compact network, fitted by :func:`fit_linear_upscaler`."""

    def __init__(self, scale: int, hidden: int) -> None:
        super().__init__()
        self.scale = scale
        self.a = torch.nn.Conv2d(3, 3 * hidden, 3, padding=1, groups=3)
        self.b = torch.nn.Conv2d(3 * hidden, 3 * scale * scale, 3, padding=1, groups=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.pixel_shuffle(self.b(self.a(x)), self.scale)
        return up + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def fit_linear_upscaler(hr: torch.Tensor, scale: int, hidden: int = 4, steps: int = 300) -> LinearUpscaler:
    """Fit a :class:`LinearUpscaler` to ground-truth patches (L2, Adam); with 5x5 reach it beats bicubic."""
    gen = torch.Generator().manual_seed(0)
    lin = LinearUpscaler(scale, hidden)
    with torch.no_grad():
        lin.a.weight.normal_(0.0, 0.1, generator=gen)
        lin.b.weight.normal_(0.0, 0.01, generator=gen)
        lin.b.bias.zero_()
    opt = torch.optim.Adam(lin.parameters(), lr=3e-3)
    lr_all = make_lr(hr, scale)
    for i in range(steps):
        idx = torch.randint(0, hr.shape[0], (32,), generator=gen)
        loss = F.mse_loss(lin(lr_all[idx])[..., 4:-4, 4:-4], hr[idx][..., 4:-4, 4:-4])
        for g in opt.param_groups:
            g["lr"] = 3e-3 * (0.5 * (1 + math.cos(math.pi * i / steps)) + 0.01)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return lin.eval()


def linear_init(model: Compact, lin: LinearUpscaler) -> Compact:
    """Start ``model`` as the linear upscaler ``lin``: channels 0-2 carry the input image unchanged through
    the body, the second-last conv and the last conv apply ``lin``'s two layers to it, and the other
    channels keep their random init (their share of the last conv starts at zero)."""
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    prelus = [m for m in model.body if isinstance(m, torch.nn.PReLU)]
    hidden3 = lin.a.out_channels
    hidden = hidden3 // 3
    s2 = lin.scale * lin.scale
    if hidden3 > convs[-2].out_channels or len(convs) < 3:
        raise ValueError("the model is too narrow or too shallow for this linear initialisation")
    with torch.no_grad():
        for conv in convs[:-2]:
            conv.weight[:3].zero_()
            conv.bias[:3].zero_()
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
        for act in prelus[:-1]:
            act.weight[:3] = 1.0  # identity on the image channels even if they turn negative
        prelus[-1].weight[:hidden3] = 1.0  # the linear hidden channels stay linear
        pen, last = convs[-2], convs[-1]
        pen.weight[:hidden3].zero_()
        pen.bias[:hidden3] = lin.a.bias
        last.weight.zero_()  # the random channels get gradients from the second step on
        last.bias.copy_(lin.b.bias)
        for c in range(3):
            hid = slice(c * hidden, (c + 1) * hidden)
            pen.weight[hid, c] = lin.a.weight[hid, 0]
            last.weight[c * s2 : (c + 1) * s2, hid] = lin.b.weight[c * s2 : (c + 1) * s2]
    return model


def sample_patches(img: np.ndarray, patch: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Cut ``count`` patches (count,3,patch,patch) from an HxWx3 uint8 image, drawn with probability
    proportional to their gradient energy from 4x as many random candidates."""
    h, w = img.shape[:2]
    if h < patch or w < patch or count <= 0:
        return np.zeros((0, 3, patch, patch), dtype=np.uint8)
    gray = img.astype(np.float32).mean(axis=2)
    grad = np.zeros_like(gray)
    grad[:, 1:] += np.abs(np.diff(gray, axis=1))
    grad[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(grad.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    n_cand = count * 4
    ys = rng.integers(0, h - patch + 1, n_cand)
    xs = rng.integers(0, w - patch + 1, n_cand)
    energy = (
        integral[ys + patch, xs + patch] - integral[ys, xs + patch] - integral[ys + patch, xs] + integral[ys, xs]
    ) / (patch * patch)
    prob = energy + 1e-3 + 0.05 * energy.mean()  # a floor keeps some smooth patches (skies, bokeh)
    prob = prob / prob.sum()
    chosen = rng.choice(n_cand, size=count, replace=False, p=prob)
    out = np.stack([img[ys[i] : ys[i] + patch, xs[i] : xs[i] + patch] for i in chosen])
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def build_cache(photos_dir: Path, patch: int, total: int, seed: int = 0) -> torch.Tensor:
    """Patches from every training photo (quota ~ sqrt(area)), at full size and, for big photos, half size."""
    train = split_photos(photos_dir, "train")
    weights = np.array([math.sqrt(p["width"] * p["height"]) for p in train])
    quotas = np.maximum(1, np.round(weights / weights.sum() * total)).astype(int)
    rng = np.random.default_rng(seed)
    chunks = []
    for p, quota in zip(train, quotas, strict=True):
        with Image.open(photos_dir / p["file"]) as im:
            im = im.convert("RGB")
            levels = [(im, quota)]
            if min(im.size) >= 1600:
                half = im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC, reducing_gap=None)
                levels = [(im, quota - quota * 2 // 5), (half, quota * 2 // 5)]
            for level, n in levels:
                chunks.append(sample_patches(np.asarray(level), patch, int(n), rng))
    return torch.from_numpy(np.concatenate(chunks))


def augment(batch: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, vertical flip and transpose per sample (the 8 dihedral symmetries)."""
    out = []
    codes = torch.randint(0, 8, (batch.shape[0],), generator=gen).tolist()
    for x, c in zip(batch, codes, strict=True):
        if c & 1:
            x = x.flip(-1)
        if c & 2:
            x = x.flip(-2)
        if c & 4:
            x = x.transpose(-1, -2)
        out.append(x)
    return torch.stack(out)


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, hr: torch.Tensor, scale: int) -> float:
    """One Adam step on the L1 loss between the model's upscale of make_lr(hr) and hr; returns the loss."""
    lr_img = make_lr(hr, scale)
    loss = F.l1_loss(model(lr_img), hr)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def cosine_lr(base: float, frac: float, warmup: float = 0.02, floor: float = 0.01) -> float:
    """Learning rate at a fraction ``frac`` of the budget: linear warm-up, then cosine down to floor*base."""
    if frac < warmup:
        return base * max(frac / warmup, 0.05)
    t = min(1.0, (frac - warmup) / (1 - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def validate(model: torch.nn.Module, crops: list[torch.Tensor], scale: int) -> tuple[float, float]:
    """Mean PSNR-Y of the model and of bicubic on fixed held-out crops."""
    model.eval()
    ours, base = [], []
    with torch.inference_mode():
        for hr in crops:
            lr_img = make_lr(hr, scale)
            ours.append(psnr_y(model(lr_img), hr))
            base.append(psnr_y(bicubic_up(lr_img, scale), hr))
    model.train()
    return float(np.mean(ours)), float(np.mean(base))


def export(model: Compact, path: Path, metadata: dict[str, str]) -> None:
    """Save the fp32 state dict with spandrel's Compact keys and string metadata."""
    state = {k: v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)


def run(args: argparse.Namespace) -> dict:
    """The training loop under a wall-clock budget; writes checkpoints, a JSONL log and the export."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    patch = args.patch or (96 if args.scale == 2 else 128)
    cache_path = Path(args.cache_dir) / f"sr_patches_p{patch}_n{args.patches}_s{args.seed}.pt"
    if cache_path.exists():
        cache = torch.load(cache_path, weights_only=True)
    else:
        cache = build_cache(args.photos, patch, args.patches, args.seed)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(cache, cache_path)
    crops = [hr for _, hr in val_crops(args.photos, 256, args.scale)]

    model = build_model(args.scale, args.num_feat, args.num_conv)
    if args.init == "linear" and not (args.resume and (out / "last.pt").exists()):
        fit_idx = torch.randperm(cache.shape[0], generator=torch.Generator().manual_seed(args.seed))[:512]
        hidden = 4 if args.scale == 2 else 8
        linear_init(model, fit_linear_upscaler(cache[fit_idx].float() / 255.0, args.scale, hidden, steps=400))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    state = {"step": 0, "elapsed": 0.0}
    ckpt = out / "last.pt"
    if args.resume and ckpt.exists():
        saved = torch.load(ckpt, weights_only=True)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = {"step": int(saved["step"]), "elapsed": float(saved["elapsed"])}
    budget = args.minutes * 60.0
    gen = torch.Generator().manual_seed(args.seed + state["step"])
    log = (out / "log.jsonl").open("a")
    start = time.perf_counter() - state["elapsed"]
    last_ckpt = last_val = time.perf_counter()
    running = []

    def save_ckpt() -> None:
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "step": state["step"],
                "elapsed": time.perf_counter() - start,
            },
            ckpt,
        )

    while (elapsed := time.perf_counter() - start) < budget:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(args.lr, elapsed / budget)
        idx = torch.randint(0, cache.shape[0], (args.batch,), generator=gen)
        hr = augment(cache[idx], gen).float() / 255.0
        running.append(train_step(model, opt, hr, args.scale))
        state["step"] += 1
        now = time.perf_counter()
        if now - last_val >= VAL_SECONDS:
            ours, base = validate(model, crops, args.scale)
            rec = {
                "step": state["step"],
                "minutes": round(elapsed / 60, 2),
                "lr": opt.param_groups[0]["lr"],
                "loss": float(np.mean(running)),
                "val_psnr": round(ours, 3),
                "val_bicubic": round(base, 3),
            }
            log.write(json.dumps(rec) + "\n")
            log.flush()
            running, last_val = [], now
        if now - last_ckpt >= CHECKPOINT_SECONDS:
            save_ckpt()
            last_ckpt = now
    save_ckpt()
    ours, base = validate(model, crops, args.scale)
    final = {
        "step": state["step"],
        "minutes": round((time.perf_counter() - start) / 60, 2),
        "final": True,
        "val_psnr": round(ours, 3),
        "val_bicubic": round(base, 3),
    }
    log.write(json.dumps(final) + "\n")
    log.close()
    meta = {
        "architecture": "Compact (SRVGGNetCompact, spandrel)",
        "scale": str(args.scale),
        "num_feat": str(args.num_feat),
        "num_conv": str(args.num_conv),
        "act_type": "prelu",
        "steps": str(state["step"]),
        "train_minutes": str(final["minutes"]),
        "degradation": "bicubic downscale, antialias=True, 8-bit rounding",
        "data": "73 Debian photographs (photos-train.json), validation held out by photo",
        "license": "GPL-3.0-or-later (derived from GPL-2+, LGPL-2.1+, CC-BY(-SA), CC0 photos)",
    }
    if args.init == "linear":
        meta["init"] = "least-squares linear upscaler (linear_init)"
    export(model, out / "final.safetensors", meta)
    return final


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, choices=(2, 4), required=True)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--photos", type=Path, default=Path("data/photos"))
    ap.add_argument("--cache-dir", type=Path, default=Path("data/sr_cache"))
    ap.add_argument("--patch", type=int, default=0, help="GT patch size (0: 96 for x2, 128 for x4)")
    ap.add_argument("--patches", type=int, default=6000)
    ap.add_argument("--num-feat", type=int, default=32)
    ap.add_argument("--num-conv", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--init",
        choices=("linear", "default"),
        default="linear",
        help="linear: start from the least-squares linear upscaler (see linear_init)",
    )
    ap.add_argument("--resume", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    final = run(parse_args(argv))
    sys.stdout.write(json.dumps(final) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
