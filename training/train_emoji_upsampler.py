"""Train the emoji GAN's 2x sticker upsampler (32 -> 64 px RGBA) on the rendered Noto emoji.

    python -m training.emoji_data --out data/emoji
    python -m training.train_emoji_upsampler --data data/emoji --out runs/emoji-up --minutes 20
    python -m training.train_gan --out runs/gan --export assets/emoji-gan.safetensors \\
        --upsampler runs/emoji-up/upsampler.safetensors

Pairs are the train split's 64 px emoji and the same emoji brought to 32 px exactly as the GAN's
training images are (premultiplied area downsampling), under the 8 flips and quarter turns. L1 loss
on premultiplied RGBA (colour under transparent pixels does not count); Adam with a cosine decay
over the time budget. The held-out split is scored (PSNR on premultiplied RGBA) against the
premultiplied bicubic resize that the generator used before.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from models.archs.emoji_gan import StickerUpsampler, premultiply, to_size
from training.train_gan import load_split

log = logging.getLogger("train_emoji_upsampler")


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips and quarter turns of a batch (k in 0..7)."""
    x = torch.rot90(x, k % 4, (2, 3))
    return x.flip(3) if k >= 4 else x


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / max(float(((a - b) ** 2).mean()), 1e-12))


@torch.no_grad()
def evaluate(net: StickerUpsampler, hi: torch.Tensor) -> tuple[float, float]:
    """(PSNR of the upsampler, PSNR of premultiplied bicubic) on premultiplied RGBA at 64 px."""
    lo = to_size(hi, hi.shape[-1] // 2)
    target = premultiply(hi)
    return psnr(premultiply(net(lo)), target), psnr(premultiply(to_size(lo, hi.shape[-1])), target)


def train(
    hi: torch.Tensor,
    held: torch.Tensor,
    channels: int,
    blocks: int,
    minutes: float,
    batch: int,
    lr: float,
    seed: int,
    max_steps: int | None = None,
) -> tuple[StickerUpsampler, dict]:
    """Train for ``minutes`` (or ``max_steps``, whichever ends first; the learning rate decays over the
    first of the two)."""
    torch.manual_seed(seed)
    net = StickerUpsampler(channels, blocks)
    opt = torch.optim.Adam(net.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)
    budget, start, step = minutes * 60, time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < budget and (max_steps is None or step < max_steps):
        done = step / max_steps if max_steps else elapsed / budget
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        idx = torch.randint(0, len(hi), (batch,), generator=gen)
        x = dihedral(hi[idx], int(torch.randint(0, 8, (1,), generator=gen)))
        loss = (net.forward_premultiplied(to_size(x, x.shape[-1] // 2)) - premultiply(x)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            ours, bicubic = evaluate(net, held)
            msg = "step %d  %.1f min  loss %.4f  held-out PSNR %.2f (bicubic %.2f)"
            log.info(msg, step, elapsed / 60, float(loss), ours, bicubic)
    ours, bicubic = evaluate(net.eval(), held)
    minutes = (time.monotonic() - start) / 60
    return net, {"steps": step, "minutes": minutes, "psnr_heldout": ours, "psnr_bicubic": bicubic}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/emoji")
    p.add_argument("--out", default="runs/emoji-up")
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    hi, *_ = load_split(Path(args.data), 64, held_out=False)
    held, *_ = load_split(Path(args.data), 64, held_out=True)
    net, summary = train(hi, held, args.channels, args.blocks, args.minutes, args.batch, args.lr, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"upsampler_channels": args.channels, "upsampler_blocks": args.blocks}
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(out / "upsampler.safetensors"),
        metadata={"config": json.dumps(config)},
    )
    summary = {**config, **summary, "batch": args.batch, "lr": args.lr, "threads": args.threads, "seed": args.seed}
    (out / "config.json").write_text(json.dumps(summary, indent=1))
    log.info("done: %s", summary)


if __name__ == "__main__":
    main()
