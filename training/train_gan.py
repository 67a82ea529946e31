"""Train the Ganvas emoji GAN (class-conditional, RGBA) on the rendered Noto emoji.

    python -m training.emoji_data --out data/emoji
    python -m training.train_gan --data data/emoji --out runs/gan --minutes 45 --threads 2
    python -m training.train_gan --out runs/gan --export assets/emoji-gan.safetensors

Hinge loss, spectral-norm projection discriminator, DiffAugment (translation, cutout, colour)
on real and fake alike, Adam (0, 0.999), EMA of the generator (what ships). Checkpoints every
few minutes; ``--resume`` continues from the last one. Trains on the train split only.

``--widen C0,C1,...`` grows a run's generator to more channels without changing its output (new
channels start with zero outgoing weights), so a larger generator can take over a trained one.
``--projected PX`` swaps the pixel discriminator for one in the features of frozen EfficientNet-Lite1
(``training/projected.py``); ``--init-g FILE`` starts the generator from an exported file,
so a new discriminator can take over a trained generator. With ``--subclasses`` as well, generator and
projected discriminator are conditioned on the 99 Unicode subgroups too (the generator's subgroup embedding
starts at zero, so an exported class-only file starts such a run unchanged), and the class head tells
the subgroups apart. ``--instances`` makes every train emoji its own subclass instead, and ``--neighbours K``
shows, for each drawn emoji, one of its K nearest emoji of the same group (by the frozen Lite1 features) as
the real image: an instance-conditioned GAN (Casanova et al. 2021) whose conditionings name small
neighbourhoods, not single images.
``--styles`` on a two-style dataset (``emoji_data --twemoji``) makes the (group, art style) pairs the subclasses,
so one generator draws both Noto and Twemoji and a style can be asked for (the card's segment 15).

``--imle W`` adds a coverage term after IMLE (Li and Malik 2018): every ``--imle-every`` steps each train emoji
is given the latent, of ``--imle-candidates`` drawn for it under its own labels, whose sample lies nearest to
it; each generator step then pulls the samples of a batch of such latents towards their emoji (L1 over white,
and on alpha). A GAN on small data drops the members of a group it finds hard (Activities' balls, dice and
masks); this term gives each of them a latent that has to draw it, and the adversarial loss is to keep the
samples sharp. In 55 CPU minutes it did not: the samples came out paler and softer (the card's segment 13).

``--anchor W`` (an ``--instances`` run) adds a reconstruction anchor: at the latent z = 0, each train emoji's
conditioning must draw that emoji (L1 over white, and on alpha); other latents are left to the adversarial loss.
``--anchor-only`` trains the generator on the anchor alone, without a discriminator, as a fast first phase that
teaches it every emoji's shape (the card's segment 16).

``--device auto`` (the default) trains on a CUDA GPU when there is one, else on the CPU; a fresh run
can set the generator's size with ``--channels`` and ``--base-size`` (e.g. 64 px native, no
upsampler, on a GPU). ``scripts/device_gan.sh`` is a prepared run for a lent GPU machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from models.archs.emoji_gan import DEFAULT_CONFIG, EmojiGenerator, to_size
from training.discriminators import EmojiDiscriminator
from training.projected import ProjectedDiscriminator

log = logging.getLogger("train_gan")
# a run's conditioning choice (saved with it): subgroups, single emoji or (group, art style) pairs, and how
# many neighbours show an emoji
PLAIN_RUN = {"instances": False, "neighbours": 1, "styles": False}
#: what an exported generator's config says about its upsampler (the rest describes the GAN)
UPSAMPLER_CONFIG_KEYS = ("output_size", "upsampler_channels", "upsampler_blocks")


def load_split(
    data_dir: Path, size: int, held_out: bool, instances: bool = False, styles: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(images RGBA float in [0,1] at ``size``, group labels, subgroup labels) of the train or held-out split,
    and the number of subgroups in the whole dataset (some may lie only in the held-out split). With
    ``instances`` the subclasses are the emoji themselves: each its own, numbered in dataset order; with
    ``styles`` they are the (group, art style) pairs, ``group * number of styles + style``."""
    d = load_file(str(data_dir / "emoji64.safetensors"))
    keep = d["held_out"].bool() if held_out else ~d["held_out"].bool()
    imgs = d["images"][keep].float() / 255.0
    if "sublabels" not in d:
        raise SystemExit(f"{data_dir} predates subgroup labels: rebuild it with python -m training.emoji_data")
    if styles:
        style = d["styles"].long() if "styles" in d else torch.zeros_like(d["labels"])
        n_styles = int(style.max()) + 1
        if n_styles < 2:
            raise SystemExit(f"{data_dir} has one art style: rebuild it with emoji_data --twemoji DIR")
        subs = d["labels"] * n_styles + style
        return to_size(imgs, size), d["labels"][keep], subs[keep], int(d["labels"].max() + 1) * n_styles
    subs = torch.arange(len(d["labels"])) if instances else d["sublabels"]
    return to_size(imgs, size), d["labels"][keep], subs[keep], int(subs.max()) + 1


@torch.no_grad()
def neighbour_table(features, x: torch.Tensor, labels: torch.Tensor, k: int, batch: int = 64) -> torch.Tensor:
    """(N, k) indices: each image first, then its k - 1 nearest images of the same group by the cosine
    similarity of ``features(x)`` (N, F). Instance-conditioned GAN (Casanova et al. 2021): the real image
    shown for an instance is one of its neighbours, so a conditioning names a small neighbourhood."""
    f = F.normalize(torch.cat([features(x[i : i + batch]) for i in range(0, len(x), batch)]).float(), dim=1)
    sim = f @ f.T
    sim[labels[:, None] != labels[None, :]] = float("-inf")
    sim.fill_diagonal_(float("inf"))
    smallest = int(torch.bincount(labels).min())
    if k > smallest:
        raise SystemExit(f"--neighbours {k}: the smallest group has only {smallest} train images")
    return sim.topk(k, dim=1).indices


def subclass_table(labels: torch.Tensor, sublabels: torch.Tensor, num_subclasses: int) -> tuple:
    """(group of each subgroup, its number of images): the generator's ``sub_group`` and ``sub_prior``."""
    group = torch.zeros(num_subclasses, dtype=torch.int64)
    group[sublabels] = labels
    return group, torch.bincount(sublabels, minlength=num_subclasses).float()


def warm_start(module: torch.nn.Module, state: dict[str, torch.Tensor], new_parts: tuple[str, ...] = ("sub_",)) -> None:
    """Load a smaller model's weights into a grown one; only entries starting with ``new_parts`` may be missing."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    new = [k for k in missing if not k.startswith(new_parts)]
    if new or unexpected:
        raise ValueError(f"not a warm start: missing {new}, unexpected {unexpected}")


def remap_optimizer(old_state: dict, old_names: list[str], opt: torch.optim.Optimizer, names: list[str]) -> None:
    """Carry Adam's moments over by parameter name (the new ``sub_*`` parameters start fresh)."""
    new_state = opt.state_dict()
    where = {n: i for i, n in enumerate(old_names)}
    new_state["state"] = {
        i: old_state["state"][where[n]] for i, n in enumerate(names) if n in where and where[n] in old_state["state"]
    }
    opt.load_state_dict(new_state)


def widen_state(old: dict[str, torch.Tensor], template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Grow a generator's weights into a wider one (``template``: the wider model's fresh weights) without
    changing what it computes.

    Every tensor keeps its old values in its leading slice (channel-major, so that holds for the first
    linear layer's flattened 4x4 maps too); the new channels keep the template's random weights, except
    that a weight from a new input channel to an old output channel is zero. So each old channel sees
    only old channels and the old output is unchanged, while the new channels compute and, through
    their (zero, but trained) outgoing weights, can join in: Net2Net's aim (Chen et al. 2016) with a
    zero instead of a replicated split.
    """
    grown = {}
    for key, fresh in template.items():
        w, o = fresh.clone(), old[key]
        w[tuple(slice(0, n) for n in o.shape)] = o
        if w.dim() >= 2 and w.shape[1] > o.shape[1]:
            w[: o.shape[0], o.shape[1] :] = 0
        grown[key] = w
    return grown


def widen_adam_state(opt_state: dict, shapes: list[torch.Size]) -> dict:
    """Adam's moments padded to the grown parameter ``shapes``; a new entry's second moment starts at its
    tensor's mean (a zero would make its first steps ~30x the learning rate with beta1 = 0)."""
    state = copy.deepcopy(opt_state)
    for i, shape in enumerate(shapes):
        s = state["state"].get(i)
        if not s or s["exp_avg"].shape == shape:
            continue
        region = tuple(slice(0, n) for n in s["exp_avg"].shape)
        m = torch.zeros(shape, dtype=s["exp_avg"].dtype)
        v = torch.full(shape, float(s["exp_avg_sq"].mean()), dtype=s["exp_avg_sq"].dtype)
        m[region], v[region] = s["exp_avg"], s["exp_avg_sq"]
        s["exp_avg"], s["exp_avg_sq"] = m, v
    return state


def widen_checkpoint(state: dict, channels: list[int]) -> dict:
    """A run's checkpoint with its generator, EMA and generator optimiser grown to ``channels`` (same
    function: ``widen_state``); the discriminator is untouched. New weights come from the global RNG."""
    old_cfg = dict(state.get("cfg", DEFAULT_CONFIG))
    old = list(old_cfg["channels"])
    if len(channels) != len(old) or any(c < o for c, o in zip(channels, old, strict=True)):
        raise SystemExit(f"--widen {channels}: needs {len(old)} widths, each at least the run's {old}")
    cfg = {**old_cfg, "channels": list(channels)}
    new_g = EmojiGenerator(**cfg)
    template = new_g.state_dict()
    return {
        **state,
        "cfg": cfg,
        "g": widen_state(state["g"], template),
        "ema": widen_state(state["ema"], template),
        "opt_g": widen_adam_state(state["opt_g"], [p.shape for p in new_g.parameters()]),
    }


def translate(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, fill: float = -1.0) -> torch.Tensor:
    """Each image ``i`` of ``x`` (N, C, H, W) shifted so that its pixel (0, 0) comes from (``dy[i]``, ``dx[i]``);
    pixels from outside the image are ``fill``. Shifts up to the size in either direction; one gather for
    the whole batch (no per-image loop, which would cost a kernel launch per image on a GPU)."""
    n, c, h, w = x.shape
    sy, sx = h, w
    padded = F.pad(x, (sx, sx, sy, sy), value=fill)
    dev = x.device
    rows = (dy.to(dev)[:, None] + sy + torch.arange(h, device=dev))[:, None, :, None]
    cols = (dx.to(dev)[:, None] + sx + torch.arange(w, device=dev))[:, None, None, :]
    return padded[
        torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None], rows, cols
    ]


def mirror(x: torch.Tensor, p: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) flipped left to right with probability ``p``: a dataset augmentation of
    the real images (StyleGAN2-ADA's ``--mirror``), not a differentiable one, so the generator learns to draw the
    mirrored emoji too. Most emoji stay valid emoji when mirrored (faces, animals, food, objects)."""
    if p <= 0:
        return x
    flip = (torch.rand(len(x), generator=gen) < p).to(x.device)[:, None, None, None]
    return torch.where(flip, x.flip(3), x)


def diff_augment(x: torch.Tensor, gen: torch.Generator | None = None, cutout: bool = False) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) for RGBA in [-1, 1]: colour, translation, optional cutout.

    Cutout is off by default: on transparent-background stickers its holes leaked into the
    generator (it learned to punch transparent holes) in a first run.
    """
    n, _, h, w = x.shape
    dev = x.device
    rgb, a = x[:, :3], x[:, 3:]
    rgb = rgb + (torch.rand(n, 1, 1, 1, device=dev, generator=gen) - 0.5)
    mean = rgb.mean(dim=1, keepdim=True)
    rgb = (rgb - mean) * (torch.rand(n, 1, 1, 1, device=dev, generator=gen) * 2) + mean
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    rgb = (rgb - mean) * (torch.rand(n, 1, 1, 1, device=dev, generator=gen) + 0.5) + mean
    x = torch.cat([rgb, a], 1)
    # translation by up to 1/8 of the size, filled with transparent black (-1)
    s = h // 8
    dx = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    x = translate(x, dx - s, dy - s)
    if not cutout:
        return x
    # cutout of a quarter-size square
    c = h // 4
    cy = torch.randint(0, h - c + 1, (n,), generator=gen)
    cx = torch.randint(0, w - c + 1, (n,), generator=gen)
    mask = torch.ones_like(x[:, :1])
    for i in range(n):
        mask[i, :, cy[i] : cy[i] + c, cx[i] : cx[i] + c] = 0
    return x * mask - (1 - mask)


def score_and_class_loss(
    d: EmojiDiscriminator, x: torch.Tensor, cond: tuple, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's realism scores and, if it has a class head, that head's cross-entropy for ``labels``."""
    if not d.aux_classifier:
        return d(x, *cond), torch.zeros(())
    score, logits = d(x, *cond, with_logits=True)
    return score, F.cross_entropy(logits, labels)


def group_sampler(labels: torch.Tensor, balance: float):
    """A function ``draw(k)`` of ``k`` random train indices in which group ``c`` comes up in proportion to
    ``count(c) ** (1 - balance)``: 0 = as often as in the data, 1 = every group equally often. Small groups
    (Activities: 77 train images against 327 for People & Body) otherwise get a small share of the steps."""
    if balance == 0:
        return lambda k: torch.randint(0, len(labels), (k,))
    counts = torch.bincount(labels).float()
    weights = counts[labels] ** -balance
    return lambda k: torch.multinomial(weights, k, replacement=True)


def build_discriminator(d_cfg: dict) -> torch.nn.Module:
    """The pixel discriminator, or with ``projected`` the one in frozen EfficientNet-Lite1 features."""
    if d_cfg.get("projected"):
        keys = ("num_classes", "feature_size", "aux_classifier", "num_subclasses")
        return ProjectedDiscriminator(**{k: d_cfg[k] for k in keys if k in d_cfg})
    return EmojiDiscriminator(**d_cfg)


def exported_generator_state(path: Path) -> dict[str, torch.Tensor]:
    """The GAN part of an exported generator file (its upsampler is trained separately and not by the GAN)."""
    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("upsampler.")}


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The mode-seeking term of Mao et al. 2019 (MSGAN) over pairs (sample ``i``, sample ``i + n/2``) that share
    a label: the inverse of how far apart their images lie per unit of latent distance (mean absolute
    differences). The generator minimises it, so two latents of one group may not give the same picture, which
    is how a small group collapses onto one member (Activities onto medals and balloons)."""
    half = len(fake) // 2
    d_img = (fake[:half] - fake[half : 2 * half]).abs().flatten(1).mean(1)
    d_z = (z[:half] - z[half : 2 * half]).abs().flatten(1).mean(1)
    return 1 / ((d_img / d_z).mean() + eps)


def sticker_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image (N,): mean absolute difference of two straight-alpha RGBA batches in [-1, 1], over white and on
    alpha, so colour under transparent pixels does not count."""

    def over_white(x: torch.Tensor) -> torch.Tensor:
        alpha = (x[:, 3:] + 1) / 2
        return torch.cat([x[:, :3] * alpha + (1 - alpha), x[:, 3:]], 1)

    return (over_white(a) - over_white(b)).abs().flatten(1).mean(1)


@torch.no_grad()
def nearest_latents(
    g: EmojiGenerator, real: torch.Tensor, conds: list[torch.Tensor], candidates: int, chunk: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """IMLE's search (Li and Malik 2018): for each real image (N, 4, H, W in [-1, 1]), ``candidates`` latents
    drawn under its own conditioning vectors ``conds`` (each (N, D)); returns the one whose sample lies nearest
    by ``sticker_l1`` (N, z_dim) and that distance (N,). The generator runs in eval mode (running batch-norm
    statistics, as the shipped generator does) and is put back in the mode it was in."""
    was_training = g.training
    g.eval()
    zs, dists = [], []
    for i in range(0, len(real), chunk):
        r = real[i : i + chunk]
        k = len(r)
        z = torch.randn(k, candidates, g.z_dim, device=real.device)
        c = [v[i : i + chunk].repeat_interleave(candidates, 0) for v in conds]
        fake = g(z.flatten(0, 1), *c) * 2 - 1
        dist = sticker_l1(fake, r.repeat_interleave(candidates, 0)).view(k, candidates)
        best = dist.argmin(1)
        zs.append(z[torch.arange(k), best])
        dists.append(dist[torch.arange(k), best])
    g.train(was_training)
    return torch.cat(zs), torch.cat(dists)


def anchor_loss(g: EmojiGenerator, real: torch.Tensor, conds: list[torch.Tensor]) -> torch.Tensor:
    """The reconstruction anchor of an instance-conditioned run: at the latent z = 0, the conditioning of a train
    emoji (its group and its own subclass) must draw that emoji (``real``, N x 4 x H x W in [-1, 1]); mean
    ``sticker_l1``. Other latents stay free for the adversarial loss, so the centre of each conditioning is the
    emoji itself and the truncation slider moves from it (small) to variations of it (1.0)."""
    z = torch.zeros(len(real), g.z_dim, device=real.device)
    return sticker_l1(g(z, *conds) * 2 - 1, real).mean()


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
            pe.lerp_(pm, 1 - decay)
        for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
            be.copy_(bm)


def resolve_device(name: str) -> torch.device:
    """``auto``: the CUDA GPU when there is one, else the CPU; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: this machine has no CUDA GPU that PyTorch can use")
    return torch.device(name)


def fresh_config(channels: str | None, base_size: int | None) -> dict:
    """The generator config of a new run: the default, with ``--channels`` and ``--base-size`` if given."""
    cfg = dict(DEFAULT_CONFIG)
    if channels:
        cfg["channels"] = [int(c) for c in channels.split(",")]
    if base_size:
        cfg["base_size"] = base_size
    cfg["output_size"] = max(cfg["output_size"], cfg["base_size"])
    blocks = len(cfg["channels"]) - 1
    if blocks < 1 or cfg["base_size"] % (4 * 2**blocks):
        raise SystemExit(
            f"--base-size {cfg['base_size']} with {len(cfg['channels'])} widths: the size must be a multiple of "
            f"{4 * 2**blocks} (each of the {blocks} blocks doubles a start of at least 4x4)"
        )
    return cfg


def train(args: argparse.Namespace) -> None:
    dev = resolve_device(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(args.threads)
        torch.set_flush_denormal(True)  # denormals in the tiny early weights slow CPU steps tenfold
    else:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")  # TF32 matrix products
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "last.pt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True) if args.resume and ckpt.exists() else None
    if args.widen:
        if not state:
            raise SystemExit("--widen grows a run's generator: use it with --resume")
        state = widen_checkpoint(state, [int(c) for c in args.widen.split(",")])
        log.info("generator widened to %s channels", args.widen)
    if state and (args.channels or args.base_size):
        raise SystemExit("--channels and --base-size shape a new run; a resumed run keeps its own (see --widen)")
    cfg = dict(state.get("cfg", DEFAULT_CONFIG)) if state else fresh_config(args.channels, args.base_size)
    # what the subclasses are and how many neighbours stand for an instance: the run's own, once chosen
    run = {"instances": args.instances, "neighbours": args.neighbours, "styles": args.styles}
    if args.instances and args.styles:
        raise SystemExit("--instances and --styles are two kinds of subclass: choose one")
    if state:
        if run != PLAIN_RUN:
            raise SystemExit("--instances, --neighbours and --styles shape a new run; a resumed run keeps its own")
        run = {**PLAIN_RUN, **state.get("run", {})}
    if (args.anchor > 0 or args.anchor_only) and not run["instances"]:
        raise SystemExit("--anchor draws each emoji from its own conditioning: it needs an --instances run")
    if run["neighbours"] > 1 and not (args.projected or state):
        raise SystemExit("--neighbours compares images in the projected discriminator's features: add --projected")
    data = load_split(
        Path(args.data), cfg["base_size"], held_out=False, instances=run["instances"], styles=run["styles"]
    )
    x_all, y_all, s_all, subgroup_count = data
    x_all, y_all, s_all = (x_all * 2 - 1).to(dev), y_all.to(dev), s_all.to(dev)
    n = len(x_all)
    if (args.subclasses or run["instances"] or run["styles"]) and not state:
        cfg["num_subclasses"] = subgroup_count
        if args.sub_scale != 1.0:
            cfg["sub_scale"] = args.sub_scale
    num_sub = cfg.get("num_subclasses", 0)
    log.info(
        "train images %d at %d px, %d %s, on %s",
        n,
        cfg["base_size"],
        num_sub,
        "instances" if run["instances"] else "group x style subclasses" if run["styles"] else "subclasses",
        dev,
    )
    g = EmojiGenerator(**cfg)
    d_cfg = {"num_classes": cfg["num_classes"], "num_subclasses": num_sub, **(state.get("d_cfg", {}) if state else {})}
    if args.projected and not state:
        d_cfg = {"projected": True, "num_classes": cfg["num_classes"], "feature_size": args.projected}
        if num_sub:
            d_cfg["num_subclasses"] = num_sub
    if d_cfg.get("projected") and args.init_from:
        raise SystemExit("--init-from warm-starts a pixel discriminator; a projected one starts from --init-g")
    if args.aux_weight > 0:
        d_cfg["aux_classifier"] = True
    d = build_discriminator(d_cfg)
    if num_sub:
        g.sub_group, g.sub_prior = subclass_table(y_all.cpu(), s_all.cpu(), num_sub)
    g, d = g.to(dev), d.to(dev)  # before the optimisers and the EMA copy; checkpoints load into these
    if d_cfg.get("projected"):
        log.info("projected discriminator on EfficientNet-Lite1 features at %d px", d_cfg["feature_size"])
    aux = d.aux_classifier
    # a projected discriminator with subclasses has its class head tell the subclasses apart
    sub_head = aux and isinstance(d, ProjectedDiscriminator) and d.num_subclasses > 0
    if aux and args.aux_weight <= 0:
        log.warning("this run's discriminator has an auxiliary class head, but --aux-weight is 0: its loss is off")
    ema = copy.deepcopy(g).eval()
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr_g, betas=(0.0, 0.999))
    opt_d = torch.optim.Adam([p for _, p in _trained(d)], lr=args.lr_d, betas=(0.0, 0.999))
    step, spent = 0, 0.0
    if args.init_g and not state:
        # a fresh discriminator against a trained generator (the exported EMA weights, without the upsampler)
        sd = exported_generator_state(Path(args.init_g))
        for module in (g, ema):
            warm_start(module, sd)  # a class-only file into a subclass generator: its sub_* parts start at zero
        log.info("generator warm-started from %s", args.init_g)
    if state:
        g.load_state_dict(state["g"])
        ema.load_state_dict(state["ema"])
        moments = "opt_g" in state  # a portable state (--portable) has no optimiser moments: Adam starts them afresh
        if moments:
            opt_g.load_state_dict(state["opt_g"])
        else:
            log.info("the run state has no optimiser moments (a portable copy): Adam starts them afresh")
        if aux and not any(k.startswith("classifier.") for k in state["d"]):
            # the auxiliary class head joins a running training: zero, so the scores are unchanged
            warm_start(d, state["d"], new_parts=("classifier.",))
            if moments:
                plain_d = build_discriminator({**d_cfg, "aux_classifier": False})
                remap_optimizer(state["opt_d"], _names(plain_d), opt_d, _names(d))
            log.info("discriminator gains an auxiliary classifier (weight %.2f)", args.aux_weight)
        else:
            d.load_state_dict(state["d"])
            if moments:
                opt_d.load_state_dict(state["opt_d"])
        step, spent = int(state["step"]), float(state["spent"])
        log.info("resumed at step %d (%.1f min)", step, spent / 60)
    elif args.init_from:
        # a class-only checkpoint warm-starts a subclass model: same function at first, then it specialises
        init = torch.load(args.init_from, map_location="cpu", weights_only=True)
        for module, key in ((g, "g"), (d, "d"), (ema, "ema")):
            # the subgroup table and embeddings (and a new class head) are not in it: kept as built
            warm_start(module, init[key], new_parts=("sub_", "classifier."))
        plain_g = EmojiGenerator(**init.get("cfg", DEFAULT_CONFIG))
        plain_d = EmojiDiscriminator(num_classes=cfg["num_classes"])
        remap_optimizer(init["opt_g"], _names(plain_g), opt_g, _names(g))
        remap_optimizer(init["opt_d"], _names(plain_d), opt_d, _names(d))
        step, spent = int(init["step"]), float(init["spent"])
        log.info("warm start from %s (step %d)", args.init_from, step)
    for opt, lr in ((opt_g, args.lr_g), (opt_d, args.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr  # the command line wins over the checkpoint's learning rates
    start = time.monotonic() - spent
    last_ckpt = last_log = time.monotonic()
    last_log_step = step
    bs = args.batch
    draw = group_sampler(y_all.cpu(), args.balance)
    nbr = None
    if run["neighbours"] > 1:
        nbr = neighbour_table(d.pooled_features, x_all, y_all, run["neighbours"])
        log.info("each conditioning shows one of %d neighbours of its image", run["neighbours"])

    def real_batch(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real images for the drawn conditionings: the images themselves, or one of their neighbours."""
        shown = idx if nbr is None else nbr[idx, torch.randint(0, nbr.shape[1], idx.shape, device=dev)]
        return mirror(x_all[shown], args.xflip), y_all[idx], s_all[idx]

    def conds_of(labels: torch.Tensor, subs: torch.Tensor) -> list[torch.Tensor]:
        """The generator's conditioning vectors for these groups (and subclasses)."""
        c = [F.one_hot(labels, cfg["num_classes"]).float()]
        if num_sub:
            c.append(F.one_hot(subs, num_sub).float())
        return c

    z_nn, imle_at = None, None  # IMLE: each train emoji's nearest latent, and the step it was found at
    if args.balance:
        share = torch.bincount(y_all.cpu()).float() ** (1 - args.balance)
        log.info("group shares per batch: %s", " ".join(f"{v:.3f}" for v in (share / share.sum()).tolist()))
    while time.monotonic() - start < args.minutes * 60 and not (args.max_steps and step >= args.max_steps):
        real, labels, subs = real_batch(draw(bs).to(dev))
        fidx = draw(bs).to(dev)  # fake (group, subgroup) pairs as often as the real ones
        if args.mode_seeking > 0:
            fidx[bs // 2 : bs // 2 * 2] = fidx[: bs // 2]  # pairs of fakes with one label, for the mode-seeking term
        fake_labels, fake_subs = y_all[fidx], s_all[fidx]
        cond = conds_of(fake_labels, fake_subs)
        fake_d = (fake_labels, fake_subs) if num_sub else (fake_labels,)
        z = torch.randn(bs, cfg["z_dim"], device=dev)
        # discriminator (``--d-steps`` updates per generator update; none while only the anchor trains)
        for k in range(0 if args.anchor_only else args.d_steps):
            if k:
                real, labels, subs = real_batch(draw(bs).to(dev))
            with torch.no_grad():
                fake = g(z, *cond) * 2 - 1
            real_d = (labels, subs) if num_sub else (labels,)
            # a class head learns from real images only (fakes would teach it their mistakes)
            score, ce_d = score_and_class_loss(d, diff_augment(real), real_d, subs if sub_head else labels)
            loss_d = F.relu(1 - score).mean() + args.aux_weight * ce_d
            loss_d = loss_d + F.relu(1 + d(diff_augment(fake), *fake_d)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        # generator
        if args.anchor_only:
            loss_d = ce_g = ms = loss_g = torch.zeros((), device=dev)
        else:
            fake = g(z, *cond) * 2 - 1
            # and the generator is rewarded for fakes that head puts in the requested group
            score, ce_g = score_and_class_loss(d, diff_augment(fake), fake_d, fake_subs if sub_head else fake_labels)
            loss_g = -score.mean() + args.aux_weight * ce_g
            ms = mode_seeking_loss(fake, z) if args.mode_seeking > 0 else torch.zeros(())
            loss_g = loss_g + args.mode_seeking * ms
        anchor = torch.zeros(())
        if args.anchor > 0 or args.anchor_only:
            aidx = draw(args.anchor_batch).to(dev)
            anchor = anchor_loss(g, x_all[aidx], conds_of(y_all[aidx], s_all[aidx]))
            loss_g = loss_g + (1.0 if args.anchor_only else args.anchor) * anchor
        rec = torch.zeros(())
        if args.imle > 0:
            if imle_at is None or step - imle_at >= args.imle_every:
                z_nn, dist = nearest_latents(g, x_all, conds_of(y_all, s_all), args.imle_candidates)
                imle_at = step
                log.info("IMLE: nearest latents found for %d emoji (median distance %.4f)", n, dist.median())
            iidx = draw(args.imle_batch).to(dev)
            rec = sticker_l1(g(z_nn[iidx], *conds_of(y_all[iidx], s_all[iidx])) * 2 - 1, x_all[iidx]).mean()
            loss_g = loss_g + args.imle * rec
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema_update(ema, g, args.ema if step > 200 else 0.0)
        step += 1
        if step % 50 == 0:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            log.info(
                "step %d  %.1f min  %.0f img/s  loss_d %.3f  loss_g %.3f%s%s%s%s",
                step,
                (time.monotonic() - start) / 60,
                # images through the generator's training step: the anchored ones alone in an --anchor-only run
                (step - last_log_step)
                * (args.anchor_batch if args.anchor_only else bs)
                / max(time.monotonic() - last_log, 1e-9),
                loss_d.item(),
                loss_g.item(),
                f"  ce_g {ce_g.item():.3f}" if aux else "",
                f"  ms {ms.item():.3f}" if args.mode_seeking > 0 else "",
                f"  imle {rec.item():.4f}" if args.imle > 0 else "",
                f"  anchor {anchor.item():.4f}" if args.anchor > 0 or args.anchor_only else "",
            )
            last_log, last_log_step = time.monotonic(), step
        if time.monotonic() - last_ckpt > args.ckpt_minutes * 60:
            _save(ckpt, cfg, d_cfg, g, d, ema, opt_g, opt_d, step, time.monotonic() - start, run)
            last_ckpt = time.monotonic()
    _save(ckpt, cfg, d_cfg, g, d, ema, opt_g, opt_d, step, time.monotonic() - start, run)
    summary = {
        **cfg,
        "steps": step,
        "minutes": (time.monotonic() - start) / 60,
        "batch": bs,
        "threads": args.threads,
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "lr_g": args.lr_g,
        "lr_d": args.lr_d,
        "d_steps": args.d_steps,
        "aux_weight": args.aux_weight,
        "balance": args.balance,
        "xflip": args.xflip,
        "mode_seeking": args.mode_seeking,
        "imle": {
            "weight": args.imle,
            "every": args.imle_every,
            "candidates": args.imle_candidates,
            "batch": args.imle_batch,
        }
        if args.imle > 0
        else None,
        "anchor": {"weight": args.anchor, "batch": args.anchor_batch, "only": args.anchor_only}
        if args.anchor > 0 or args.anchor_only
        else None,
        "discriminator": d_cfg,
    }
    (out / "config.json").write_text(json.dumps(summary, indent=1))
    log.info("done: %d steps", step)


def _trained(module: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters an optimiser updates, in its order (a projected discriminator's frozen parts are left out)."""
    if isinstance(module, ProjectedDiscriminator):
        return list(module.trained_parts().named_parameters())
    return list(module.named_parameters())


def _names(module: torch.nn.Module) -> list[str]:
    return [name for name, _ in _trained(module)]


def _save(path, cfg, d_cfg, g, d, ema, opt_g, opt_d, step, spent, run=None) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "cfg": cfg,
            "d_cfg": d_cfg,
            "run": run or PLAIN_RUN,
            "g": g.state_dict(),
            "d": d.state_dict(),
            "ema": ema.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "step": step,
            "spent": spent,
        },
        tmp,
    )
    tmp.replace(path)


def export(run: Path, dest: Path, upsampler: Path | None = None) -> None:
    """Write the EMA generator as safetensors (the file the registry ships), with a 2x sticker upsampler
    folded in when given: a file of ``train_emoji_upsampler``, or an exported generator file that has one
    (such as the shipped ``assets/emoji-gan.safetensors``), whose ``upsampler.*`` part is taken."""
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    sd = {k: v.contiguous() for k, v in state["ema"].items()}
    cfg = dict(state.get("cfg", DEFAULT_CONFIG))
    if upsampler is not None:
        from safetensors import safe_open

        with safe_open(str(upsampler), framework="pt") as f:
            up_cfg = json.loads((f.metadata() or {}).get("config", "{}"))
        up = load_file(str(upsampler))
        if any(k.startswith("upsampler.") for k in up):  # an exported generator: its upsampler part
            up = {k.removeprefix("upsampler."): v for k, v in up.items() if k.startswith("upsampler.")}
            up_cfg = {k: v for k, v in up_cfg.items() if k in UPSAMPLER_CONFIG_KEYS}
        if not up or not {"upsampler_channels", "upsampler_blocks"} <= up_cfg.keys():
            raise SystemExit(f"{upsampler} holds no sticker upsampler (train_emoji_upsampler's file or an export)")
        cfg.update(up_cfg)
        sd.update({f"upsampler.{k}": v.contiguous() for k, v in up.items()})
        EmojiGenerator(**cfg).load_state_dict(sd, strict=True)  # the keys fit the exported config
    meta = {"arch": "ganvas-emoji-gan", "steps": str(state["step"]), "config": json.dumps(cfg)}
    save_file(sd, str(dest), metadata=meta)


def portable(run: Path, dest: Path) -> None:
    """Write ``run``'s state small enough to travel: without the optimisers' moments and with the weights in
    float16 (a 64 px run's 44 MB become 10 MB), so a run fits in what a lent GPU machine sends back, and goes
    there again beside the data. ``--resume`` from it continues the weights (rounded to float16's 11
    significant bits; a tensor beyond float16's range stays float32), the step count and the clock; Adam's
    moments start afresh (with beta1 = 0 only the second moment is lost, and it is estimated again within a
    few hundred steps)."""
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)

    def fits(v: torch.Tensor) -> bool:
        return v.is_floating_point() and (v.numel() == 0 or float(v.abs().max()) < 6e4)

    def small(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.half() if fits(v) else v for k, v in sd.items()}

    slim = {k: small(v) if k in ("g", "ema", "d") else v for k, v in state.items() if k not in ("opt_g", "opt_d")}
    torch.save(slim, dest)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/emoji")
    p.add_argument("--out", default="runs/gan")
    p.add_argument("--minutes", type=float, default=45)
    p.add_argument("--max-steps", type=int, default=0, help="stop at this step even before --minutes (0 = no limit)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr-g", type=float, default=2e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--ema", type=float, default=0.99)  # short CPU runs: a long EMA lags far behind
    p.add_argument("--d-steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (on the CPU)")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU if there is one, else the CPU), cpu or cuda")
    p.add_argument("--channels", metavar="C0,C1,...", help="a new run's generator widths (default 128,96,64,32)")
    p.add_argument("--base-size", type=int, help="a new run's native generator size in px (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-minutes", type=float, default=4)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--subclasses", action="store_true", help="condition on the Unicode subgroup as well as the group")
    p.add_argument(
        "--instances",
        action="store_true",
        help="a new run: the subclasses are the train emoji themselves (instance conditioning, IC-GAN style)",
    )
    p.add_argument(
        "--styles",
        action="store_true",
        help="a new run on a two-style dataset (emoji_data --twemoji): the subclasses are (group, art style) pairs",
    )
    p.add_argument(
        "--neighbours",
        type=int,
        default=1,
        metavar="K",
        help="a new --projected run: the real image shown for a conditioning is one of its image's K nearest of "
        "the same group (1 = the image itself)",
    )
    p.add_argument("--init-from", help="warm-start a --subclasses run from a class-only checkpoint (.pt)")
    p.add_argument(
        "--sub-scale",
        type=float,
        default=1.0,
        help="a new --subclasses run: scale of the generator's subclass embedding (its relative learning rate)",
    )
    p.add_argument(
        "--aux-weight",
        type=float,
        default=0.0,
        help="weight of an auxiliary class loss (AC-GAN style head on the discriminator; 0 = off)",
    )
    p.add_argument(
        "--balance",
        type=float,
        default=0.0,
        help="0 = draw groups as often as in the data, 1 = every group equally often (small groups get more steps)",
    )
    p.add_argument(
        "--xflip",
        type=float,
        default=0.0,
        metavar="P",
        help="show each real image mirrored left to right with this probability (0 = never; 0.5 doubles the data)",
    )
    p.add_argument(
        "--mode-seeking",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of MSGAN's mode-seeking term: two latents of one group must give different images (0 = off)",
    )
    p.add_argument(
        "--imle",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of an IMLE coverage term: each train emoji's nearest latent must draw it (0 = off)",
    )
    p.add_argument("--imle-every", type=int, default=500, help="steps between IMLE's searches for nearest latents")
    p.add_argument("--imle-candidates", type=int, default=16, help="latents drawn per train emoji in that search")
    p.add_argument("--imle-batch", type=int, default=16, help="train emoji pulled towards their samples per step")
    p.add_argument(
        "--anchor",
        type=float,
        default=0.0,
        metavar="W",
        help="an --instances run: weight of a reconstruction anchor, each emoji's conditioning at z = 0 must draw "
        "it (0 = off)",
    )
    p.add_argument("--anchor-batch", type=int, default=32, help="train emoji anchored per generator step")
    p.add_argument(
        "--anchor-only",
        action="store_true",
        help="train the generator on the anchor alone, no discriminator (a fast pretraining phase)",
    )
    p.add_argument(
        "--projected",
        type=int,
        default=0,
        metavar="PX",
        help="judge in frozen EfficientNet-Lite1 features at PX pixels (Projected GAN; 0 = pixel discriminator)",
    )
    p.add_argument(
        "--widen",
        metavar="C0,C1,...",
        help="with --resume: grow the generator to these channel widths, computing the same at first",
    )
    p.add_argument("--init-g", help="start the generator (and its EMA) from an exported .safetensors file")
    p.add_argument(
        "--upsampler",
        help="with --export: fold in this sticker upsampler (train_emoji_upsampler's file, or an exported "
        "generator's, such as assets/emoji-gan.safetensors)",
    )
    p.add_argument("--export", help="write the EMA generator to this safetensors file and exit")
    p.add_argument(
        "--portable",
        help="write the run state small (float16 weights, no optimiser moments) to this file and exit; "
        "--resume continues it",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.export:
        export(Path(args.out), Path(args.export), Path(args.upsampler) if args.upsampler else None)
    elif args.portable:
        portable(Path(args.out), Path(args.portable))
    else:
        train(args)


if __name__ == "__main__":
    main()
