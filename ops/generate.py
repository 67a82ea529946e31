"""Sampling helpers on top of a Generator: batches, seed interpolation, variations, animations."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import torch

from core.errors import InvalidInputError, quoted
from core.image import ImageData
from core.numbers import whole_number
from models.adapters import Generator
from ops.convert import to_pil
from ops.defaults import DEFAULT_COUNT

MAX_COUNT = 16


def label_index(gen: Generator, label: int | str | None) -> int:
    """The index of ``label`` (a name as a person types it, an index, or None for the first) in ``gen.labels``."""
    if not gen.labels:
        return 0
    if label is None or label == "":
        return 0
    if isinstance(label, str) and not label.lstrip("-").isdigit():
        return _label_by_name(gen, label)
    idx = int(label)
    if not 0 <= idx < len(gen.labels):
        raise InvalidInputError(f"Label {idx} is out of range: {gen.spec.title} has {len(gen.labels)} labels.")
    return idx


def _label_by_name(gen: Generator, name: str) -> int:
    """A label's index from its name as a person types it: exact, else regardless of case, else the one label
    that contains it ("activ" -> "Activities", "goldfish" -> the ImageNet class). Otherwise a message that
    names the candidates."""
    if name in gen.labels:
        return gen.labels.index(name)
    want = name.strip().casefold()
    folded = [lab.casefold() for lab in gen.labels]
    if want in folded:
        return folded.index(want)
    partial = [i for i, lab in enumerate(folded) if want and want in lab]
    if len(partial) == 1:
        return partial[0]
    if partial:
        shown = ", ".join(repr(gen.labels[i]) for i in partial[:8])
        more = f" and {len(partial) - 8} more" if len(partial) > 8 else ""
        raise InvalidInputError(f"{quoted(name)} matches several labels of {gen.spec.title}: {shown}{more}.")
    close = difflib.get_close_matches(want, folded, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(gen.labels[folded.index(c)]) for c in close)}?" if close else ""
    raise InvalidInputError(f"{gen.spec.title} has no label {quoted(name)}.{hint}")


MAX_SEED = 2**32 - 1


def label_slug(gen: Generator, label: int | str | None) -> str:
    """A label as a file-name part ("Food & Drink" -> "food-drink"); empty for models without labels."""
    if not gen.labels:
        return ""
    index = label_index(gen, label)
    return re.sub(r"[^a-z0-9]+", "-", gen.labels[index].casefold()).strip("-") or f"label{index}"


def file_stem(model_id: str, gen: Generator, label: int | str | None, truncation: float = 1.0) -> str:
    """The start of a generated file's name, saying what was asked for: the model, the label and the
    truncation when it is not 1, e.g. ``emoji-gan-food-drink-t0.7``. The CLI and the app name files
    ``{stem}-seed{S}.png``, so runs for other labels or truncations keep each other's files."""
    slug = label_slug(gen, label)
    stem = f"{model_id}-{slug}" if slug else model_id
    if gen.spec.truncation and float(truncation) != 1.0:
        stem += f"-t{float(truncation):g}"
    return stem


def variation_stem(stem: str, seed: int, index: int, strength: float) -> str:
    """The name of the ``index``-th variation of ``seed`` (without suffix), counted from 1 in the name as in the
    app's captions ("variation 1 of seed 5" is ``...-seed5-var1-...``)."""
    return f"{stem}-seed{seed}-var{index + 1}-s{float(strength):g}"


def animation_stem(
    stem: str, gen: Generator, label: int | str | None, label_to: int | str | None, seed: int, seed_to: int
) -> str:
    """The name of an interpolation from ``seed`` to ``seed_to`` (``-to-LABEL`` when the label changes)."""
    end = label_slug(gen, label_to) if label_to not in (None, "") else ""
    to = f"-to-{end}" if end and end != label_slug(gen, label) else ""
    return f"{stem}{to}-interp-{seed}-{seed_to}"


def _check_truncation(gen: Generator, truncation: float) -> float:
    t = float(truncation)
    if gen.spec.truncation and not 0.02 <= t <= 1.0:
        raise InvalidInputError("Truncation must be between 0.02 and 1.")
    return t if gen.spec.truncation else 1.0


def to_images(batch: torch.Tensor) -> list[ImageData]:
    """(N,4,H,W) RGBA in [0,1] -> one ImageData per sample (transparent where alpha is 0)."""
    return [ImageData(rgb=b[None, :3].contiguous(), alpha=b[None, 3:4].contiguous()) for b in batch.float()]


def sample(
    gen: Generator, seed: int, count: int = DEFAULT_COUNT, label: int | str | None = None, truncation: float = 1.0
) -> list[ImageData]:
    """``count`` images for seeds seed, seed+1, ...: the same seed always gives the same pixels."""
    seed, count = whole_number(seed, "Seed", 0, MAX_SEED), whole_number(count, "Count", 1, MAX_COUNT)
    if seed + count - 1 > MAX_SEED:  # a seed past the largest one would draw the same image as a small one
        raise InvalidInputError(
            f"The seeds would run from {seed} to {seed + count - 1}, past the largest seed, {MAX_SEED}: "
            "lower the seed or the count."
        )
    lab = label_index(gen, label)
    t = _check_truncation(gen, truncation)
    seeds = [seed + i for i in range(count)]
    return to_images(gen.generate(seeds, [lab] * len(seeds), t))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of two latent vectors (keeps the norm typical of Gaussian latents)."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1, 1))
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolate(
    gen: Generator,
    seed_a: int,
    seed_b: int,
    label_a: int | str | None = None,
    label_b: int | str | None = None,
    frames: int = 16,
    truncation: float = 1.0,
) -> list[ImageData]:
    """Frames walking from (seed_a, label_a) to (seed_b, label_b): slerp in z, lerp in class."""
    frames = whole_number(frames, "Frames", 2, 64)
    seed_a, seed_b = whole_number(seed_a, "Seed", 0, MAX_SEED), whole_number(seed_b, "Second seed", 0, MAX_SEED)
    t = _check_truncation(gen, truncation)
    z = gen.sample_latents([seed_a, seed_b], t)
    c = gen.class_vectors([label_index(gen, label_a), label_index(gen, label_b)])
    steps = torch.linspace(0, 1, frames).tolist()
    zs = torch.stack([slerp(z[0], z[1], s) for s in steps])
    cs = torch.stack([(1 - s) * c[0] + s * c[1] for s in steps])
    return to_images(gen.synthesize(zs, cs, t))


def variations(
    gen: Generator,
    seed: int,
    count: int = DEFAULT_COUNT,
    label: int | str | None = None,
    strength: float = 0.3,
    truncation: float = 1.0,
) -> list[ImageData]:
    """Images near one seed: its latent plus ``strength`` times fresh noise, renormalised."""
    seed, count = whole_number(seed, "Seed", 0, MAX_SEED), whole_number(count, "Count", 1, MAX_COUNT)
    if not 0 <= float(strength) <= 1:
        raise InvalidInputError("Strength must be between 0 and 1.")
    t = _check_truncation(gen, truncation)
    base = gen.sample_latents([seed], t)[0]
    noise = gen.sample_latents([seed * 7919 + 104729 + i for i in range(count)], t)
    zs = torch.stack([slerp(base, n, float(strength)) for n in noise])
    cs = gen.class_vectors([label_index(gen, label)] * count)
    return to_images(gen.synthesize(zs, cs, t))


def save_animation(frames: list[ImageData], path: str | Path, fps: int = 12, boomerang: bool = True) -> Path:
    """Animated lossless WebP (alpha kept) or GIF, by suffix; ``boomerang`` plays back and forth."""
    if not frames:
        raise InvalidInputError("No frames to animate.")
    fps = whole_number(fps, "Frames per second", 1, 50)
    imgs = [to_pil(f).convert("RGBA") for f in frames]
    if boomerang and len(imgs) > 2:
        imgs = imgs + imgs[-2:0:-1]
    path = Path(path)
    duration = round(1000 / fps)
    if path.suffix.lower() == ".gif":
        imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=duration, loop=0, disposal=2)
    else:
        imgs[0].save(
            path, format="WEBP", save_all=True, append_images=imgs[1:], duration=duration, loop=0, lossless=True
        )
    return path
