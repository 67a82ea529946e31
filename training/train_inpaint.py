"""Train the embedded Ganvas inpainting network on the Debian photos, on a CPU, within a time budget.

    python -m training.train_inpaint --photos data/photos --minutes 50 --threads 1 \
        --ckpt data/inpaint_ckpt/last.pt --export assets/ganvas-inpaint.safetensors [--resume]

Crops are drawn from the "train" split of ``manifest.json`` (weighted by gradient energy, since
wallpapers have large blurry areas), holes from :func:`training.masks.random_mask`;
the validation set and its hole PSNR are :mod:`training.evaluation`'s.
The loss is L1 inside (weighted more) and outside the hole plus an L1 on image gradients inside.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from models.archs.ganvas_inpaint import BASES, DEFAULT_PARAMS, GanvasInpaintNet, build
from training.evaluation import hole_psnr, load_photo, photo_paths, validation_set
from training.masks import random_mask

log = logging.getLogger("train_inpaint")


def gradient_energy(crop: np.ndarray) -> float:
    """Mean absolute luminance gradient of a uint8 crop (0 for a flat patch)."""
    g = crop.astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


class CropSampler:
    """Random training crops at random scales, weighted by gradient energy, with random holes."""

    def __init__(self, images: list[np.ndarray], size: int, rng: np.random.Generator) -> None:
        self.images, self.size, self.rng = images, size, rng

    def crop(self) -> np.ndarray:
        src = min(int(self.size * self.rng.uniform(1.0, 2.0)), *self.images[0].shape[:2])
        cands = []
        for _ in range(4):
            img = self.images[int(self.rng.integers(len(self.images)))]
            s = min(src, *img.shape[:2])
            y = int(self.rng.integers(0, img.shape[0] - s + 1))
            x = int(self.rng.integers(0, img.shape[1] - s + 1))
            cands.append(img[y : y + s, x : x + s])
        energy = np.array([gradient_energy(c[::2, ::2]) for c in cands]) + 0.5
        pick = cands[int(self.rng.choice(len(cands), p=energy / energy.sum()))]
        if pick.shape[0] != self.size:
            pick = np.asarray(Image.fromarray(pick).resize((self.size, self.size), Image.Resampling.BICUBIC))
        if self.rng.random() < 0.5:
            pick = pick[:, ::-1]
        return np.ascontiguousarray(pick)

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        imgs = np.stack([self.crop() for _ in range(n)]).astype(np.float32) / 255.0
        masks = np.stack([random_mask(self.size, self.size, self.rng) for _ in range(n)]).astype(np.float32)
        return torch.from_numpy(imgs).permute(0, 3, 1, 2), torch.from_numpy(masks)[:, None]


def inpaint_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, hole_weight: float = 6.0
) -> torch.Tensor:
    """L1 weighted ``hole_weight`` inside the hole and 1 outside, plus L1 on gradients inside."""
    l1 = ((pred - target).abs() * (1 + (hole_weight - 1) * mask)).mean()
    comp = pred * mask + target * (1 - mask)
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    grad = (dx(comp) - dx(target)).abs().mean() + (dy(comp) - dy(target)).abs().mean()
    return l1 + 2.0 * grad


def run_model(net: GanvasInpaintNet, crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Inpaint one uint8 crop with the network; returns uint8 with untouched pixels outside."""
    x = torch.from_numpy(crop.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    with torch.inference_mode():
        y = net(x, m)[0].permute(1, 2, 0).numpy()
    out = (y * 255.0 + 0.5).astype(np.uint8)
    out[~mask] = crop[~mask]
    return out


def _lr(step: int, frac: float, base: float) -> float:
    warm = min(1.0, (step + 1) / 100)
    return base * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train(args: argparse.Namespace) -> GanvasInpaintNet:
    """Train until ``args.minutes`` of wall clock (summed over resumed runs) are spent."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    params = {**DEFAULT_PARAMS, "channels": args.channels, "blocks": args.blocks, "base": args.base}
    net = build(params)
    if args.init:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(args.init))  # fine-tune from earlier weights (same layer shapes)
        log.info("initialised from %s", args.init)
        if args.zero_head:  # start exactly at the classical fill; the features are kept
            torch.nn.init.zeros_(net.head.weight)
            torch.nn.init.zeros_(net.head.bias)
    ema = build(params)
    ema.load_state_dict(net.state_dict())
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4, betas=(0.9, 0.99))
    step, spent = 0, 0.0
    ckpt = Path(args.ckpt)
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(state["net"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, spent = int(state["step"]), float(state["spent"])
        rng = np.random.default_rng(args.seed + step)
        log.info("resumed at step %d after %.1f min", step, spent / 60)
    t_load = time.time()
    images = [load_photo(p) for p in photo_paths(Path(args.photos), "train")]
    log.info("loaded %d training photos in %.0f s", len(images), time.time() - t_load)
    val = [
        (c[:256, :256], random_mask(256, 256, np.random.default_rng(i)))
        for i, (c, _) in enumerate(validation_set(Path(args.photos))[::3])
    ]
    sampler = CropSampler(images, args.crop, rng)
    budget = args.minutes * 60
    start, last_ckpt, running = time.time() - spent, time.time(), 0.0
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        for g in opt.param_groups:
            g["lr"] = _lr(step, frac, args.lr)
        x, m = sampler.batch(args.batch)
        pred = net.predict(x, m)
        loss = inpaint_loss(pred, x, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters(), strict=True):
                pe.lerp_(pn, 1 - decay)
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        step += 1
        if step % 50 == 0:
            minutes = (time.time() - start) / 60
            log.info("step %d  %.1f min  loss %.4f  lr %.2e", step, minutes, running, opt.param_groups[0]["lr"])
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            _save(ckpt, net, ema, opt, step, time.time() - start)
            _report(ema, val, step)
            last_ckpt = time.time()
    _save(ckpt, net, ema, opt, step, time.time() - start)
    _report(ema, val, step)
    if args.export:
        export(ema, Path(args.export))
    return ema


def _save(path: Path, net, ema, opt, step: int, spent: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {"net": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step, "spent": spent}, tmp
    )
    tmp.replace(path)


def _report(net: GanvasInpaintNet, val: list[tuple[np.ndarray, np.ndarray]], step: int) -> None:
    import cv2

    net.eval()
    ours = [hole_psnr(run_model(net, c, m), c, m) for c, m in val]
    telea = [hole_psnr(cv2.inpaint(c, m.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA), c, m) for c, m in val]
    log.info("step %d  val hole PSNR ours %.2f dB  telea %.2f dB", step, np.mean(ours), np.mean(telea))


def export(net: GanvasInpaintNet, path: Path) -> None:
    """Write the weights as float32 safetensors (contiguous copies, no shared storage)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().float().contiguous().clone() for k, v in net.state_dict().items()}, str(path))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default="data/photos")
    ap.add_argument("--minutes", type=float, default=50.0, help="wall-clock budget, summed over resumes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--channels", type=int, nargs="+", default=list(DEFAULT_PARAMS["channels"]))
    ap.add_argument("--blocks", type=int, default=DEFAULT_PARAMS["blocks"])
    ap.add_argument("--base", choices=BASES, default=DEFAULT_PARAMS["base"], help="classical fill the net refines")
    ap.add_argument("--zero-head", action="store_true", help="with --init: zero the output head first")
    ap.add_argument("--init", default="", help="start from these safetensors weights (fine-tuning)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt", default="data/inpaint_ckpt/last.pt")
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", default="", help="write the EMA weights here as safetensors when done")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(args)


if __name__ == "__main__":
    main()
