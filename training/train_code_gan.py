"""A GAN over the codes of the emoji decoder (the card's segment 17, an experiment; nothing here ships).

    python -m training.train_code_gan --decoder out/emoji-gan-anchor0.safetensors --out runs/codegan \
        --grid runs/codegan/grid.png

``train_gan --instances --anchor-only`` (segment 16) trains the emoji generator as a decoder: every train
emoji has a learned 64-d code (its column of ``sub_embed`` times ``sub_scale``) from which the generator
draws it at z = 0, as in GLO (Bojanowski et al. 2018). This script asks whether new emoji lie between those
codes. A latent GAN (after Achlioptas et al. 2018) learns where codes lie per Unicode group: a generator
(``CodeMapper``, an MLP from a latent and the group) against a spectral-normalised MLP projection
discriminator, hinge loss, EMA of the generator, on the train codes standardised per dimension and seen
with Gaussian noise (``--noise``, so the discriminator cannot learn 1,684 points by heart). Precision and
recall in code space (Kynkaenniemi et al. 2019, k = 3, within each group) are logged, with how far samples
lie from their nearest train code over how far train codes lie from each other.

``--grid`` decodes, for four groups, train codes, train codes with noise, samples of a Gaussian fitted to
the group's codes, midpoints of two of its codes and the GAN's samples.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from models.archs.emoji_gan import EmojiGenerator

log = logging.getLogger("train_code_gan")


class CodeMapper(nn.Module):
    """(z, class vector) -> a standardised code: an MLP (leaky ReLU) whose first layer adds a class embedding."""

    def __init__(self, z_dim: int, num_classes: int, code_dim: int, hidden: int = 256, layers: int = 3) -> None:
        super().__init__()
        self.inp = nn.Linear(z_dim, hidden)
        self.embed = nn.Linear(num_classes, hidden, bias=False)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.out = nn.Linear(hidden, code_dim)

    def forward(self, z: torch.Tensor, class_vector: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.inp(z) + self.embed(class_vector), 0.2)
        for layer in self.hidden:
            h = F.leaky_relu(layer(h), 0.2)
        return self.out(h)


class CodeDiscriminator(nn.Module):
    """Spectral-normalised MLP on a code, with a projection on the class (Miyato & Koyama 2018)."""

    def __init__(self, code_dim: int, num_classes: int, hidden: int = 256, layers: int = 3) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        dims = [code_dim] + [hidden] * layers
        self.layers = nn.ModuleList(sn(nn.Linear(a, b)) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.out = sn(nn.Linear(hidden, 1))
        self.embed = sn(nn.Embedding(num_classes, hidden))

    def forward(self, code: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = code
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
        return self.out(h).squeeze(1) + (self.embed(labels) * h).sum(1)


def decoder_codes(path: Path) -> tuple[dict, dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """(config, weights, codes, groups) of an exported instance-conditioned decoder: one code per train emoji
    (those with a share of the training set; held-out emoji have none)."""
    with safe_open(str(path), framework="pt") as f:
        cfg = json.loads((f.metadata() or {}).get("config", "{}"))
    sd = load_file(str(path))
    if not cfg.get("num_subclasses") or "sub_embed.weight" not in sd:
        raise SystemExit(f"{path} has no per-emoji codes: export an --instances run of train_gan (--anchor-only)")
    train = sd["sub_prior"] > 0
    codes = (sd["sub_embed.weight"].T * float(cfg.get("sub_scale", 1.0)))[train]
    return cfg, sd, codes.float(), sd["sub_group"][train]


def knn_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    return d.topk(k, dim=1, largest=False).values[:, -1]


@torch.no_grad()
def code_metrics(real: torch.Tensor, fake: torch.Tensor, groups: torch.Tensor, fake_groups: torch.Tensor, k: int = 3):
    """Precision, recall (k-NN manifolds, within each group) and the median distance from a fake code to its
    nearest real one over the median nearest-neighbour distance among the real codes (1 = as far as two
    train emoji are from each other; near 0 = copies)."""
    prec, rec, near, real_nn = [], [], [], []
    for grp in groups.unique():
        r, f = real[groups == grp], fake[fake_groups == grp]
        if len(r) <= k or len(f) <= k:
            continue
        rr, fr = knn_radius(r, k), knn_radius(f, k)
        d = torch.cdist(f, r)  # (F, R)
        prec.append((d <= rr[None]).any(1).float())
        rec.append((d.T <= fr[None]).any(1).float())
        near.append(d.min(1).values)
        real_nn.append(knn_radius(r, 1))
    ratio = torch.cat(near).median() / torch.cat(real_nn).median()
    return torch.cat(prec).mean().item(), torch.cat(rec).mean().item(), ratio.item()


def decode(decoder: EmojiGenerator, group: int, codes: torch.Tensor) -> torch.Tensor:
    """RGBA at the decoder's output size: each code drawn at z = 0 for ``group`` (upsampled when it can)."""
    n = len(codes)
    onehot = F.one_hot(torch.full((n,), group), decoder.num_classes).float()
    out = decoder.draw(torch.zeros(n, decoder.z_dim), decoder.embed(onehot) + codes)
    return decoder.upsampler(out) if decoder.upsampler is not None else out


def latents(n: int, z_dim: int) -> torch.Tensor:
    """Standard normal latents truncated to [-2, 2] (resampled), as the app draws them."""
    z = torch.randn(n, z_dim)
    bad = z.abs() > 2
    while bool(bad.any()):
        z[bad] = torch.randn(int(bad.sum()))
        bad = z.abs() > 2
    return z


def train(args: argparse.Namespace) -> tuple[CodeMapper, dict]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg, _, codes, groups = decoder_codes(Path(args.decoder))
    num_classes, code_dim, z_dim = cfg["num_classes"], codes.shape[1], cfg["z_dim"]
    log.info("%d train codes of %d dimensions from %s", len(codes), code_dim, args.decoder)
    shift, scale = codes.mean(0), codes.std(0)
    codes = (codes - shift) / scale  # both players work in standardised units

    g = CodeMapper(z_dim, num_classes, code_dim, args.hidden, args.layers)
    d = CodeDiscriminator(code_dim, num_classes, args.d_hidden, args.d_layers)
    ema = copy.deepcopy(g).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr_g, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.0, 0.99))

    start, history = time.monotonic(), []
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(codes), (args.batch,))
        labels = groups[idx]
        onehot = F.one_hot(labels, num_classes).float()
        real = codes[idx] + args.noise * torch.randn(args.batch, code_dim)
        with torch.no_grad():
            fake = g(latents(args.batch, z_dim), onehot)
        loss_d = F.relu(1 - d(real, labels)).mean() + F.relu(1 + d(fake, labels)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        loss_g = -d(g(latents(args.batch, z_dim), onehot), labels).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), g.parameters(), strict=True):
                pe.lerp_(p, 1 - args.ema)

        if step % args.log_every == 0 or step == args.steps:
            fake_groups = groups.repeat(2)
            with torch.no_grad():
                fake = ema(latents(len(fake_groups), z_dim), F.one_hot(fake_groups, num_classes).float())
            p, r, ratio = code_metrics(codes, fake, groups, fake_groups)
            spread = fake.std(0).mean().item()
            history.append({"step": step, "precision": p, "recall": r, "nearest": ratio, "spread": spread})
            log.info(
                "step %d  %.1f min  loss_d %.3f  loss_g %.3f  precision %.3f  recall %.3f  nearest %.2f  spread %.2f",
                step,
                (time.monotonic() - start) / 60,
                loss_d.item(),
                loss_g.item(),
                p,
                r,
                ratio,
                spread,
            )
    run = {
        "decoder": str(args.decoder),
        "steps": args.steps,
        "minutes": (time.monotonic() - start) / 60,
        "mapper": {"hidden": args.hidden, "layers": args.layers},
        "discriminator": {"hidden": args.d_hidden, "layers": args.d_layers},
        **{k: getattr(args, k) for k in ("batch", "lr_g", "lr_d", "ema", "noise", "seed", "threads")},
        "history": history,
    }
    (out / "config.json").write_text(json.dumps(run, indent=1))
    torch.save({"ema": ema.state_dict(), "d": d.state_dict(), "shift": shift, "scale": scale}, out / "last.pt")
    log.info("wrote %s", out / "last.pt")
    return ema, run


@torch.no_grad()
def grid(decoder_path: Path, mapper: CodeMapper, dest: Path, n: int = 10) -> None:
    """Per group shown (Food, Travel, Activities, Objects; the first four of a smaller model), five rows of
    ``n`` decoded codes: train codes, the same with noise of 0.5 of the codes' spread, samples of a Gaussian
    fitted to the group's codes, midpoints of two random codes, GAN samples."""
    from PIL import Image

    cfg, sd, codes, groups = decoder_codes(decoder_path)
    decoder = EmojiGenerator(**cfg)
    decoder.load_state_dict(sd, strict=True)
    decoder.eval()
    shown = [g for g in (3, 4, 5, 6) if g < cfg["num_classes"]] or list(range(min(4, cfg["num_classes"])))
    shift, scale = codes.mean(0), codes.std(0)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for grp in shown:
        r = codes[groups == grp]
        pick = r[torch.randperm(len(r), generator=gen)[:n]]
        fit = torch.distributions.MultivariateNormal(r.mean(0), torch.cov(r.T) + 1e-4 * torch.eye(r.shape[1]))
        i, j = torch.randint(0, len(r), (2, n), generator=gen)
        z = latents(n, mapper.inp.in_features)
        made = shift + scale * mapper(z, F.one_hot(torch.full((n,), grp), cfg["num_classes"]).float())
        for c in (
            pick,
            pick + 0.5 * scale * torch.randn(pick.shape, generator=gen),
            fit.sample((n,)),
            (r[i] + r[j]) / 2,
            made,
        ):
            rows.append(decode(decoder, grp, c))
    size = rows[0].shape[-1] + 2
    canvas = Image.new("RGBA", (n * size, len(rows) * size), (200, 200, 200, 255))
    for y, row in enumerate(rows):
        for x, im in enumerate(row):
            rgba = (im.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
            canvas.alpha_composite(Image.fromarray(rgba, "RGBA"), (x * size + 1, y * size + 1))
    canvas.convert("RGB").save(dest)
    log.info("wrote %s", dest)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--decoder", required=True, help="an exported --instances --anchor-only file of train_gan")
    p.add_argument("--out", required=True, help="run folder (config.json, last.pt)")
    p.add_argument("--grid", help="write decoded codes and samples of four groups to this PNG")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr-g", type=float, default=2e-4)
    p.add_argument("--lr-d", type=float, default=2e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--noise", type=float, default=0.2, help="noise on the real codes, in units of their spread")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--d-hidden", type=int, default=256)
    p.add_argument("--d-layers", type=int, default=3)
    p.add_argument("--log-every", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    mapper, _ = train(args)
    if args.grid:
        grid(Path(args.decoder), mapper, Path(args.grid))


if __name__ == "__main__":
    main()
