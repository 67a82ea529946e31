"""The emoji GAN generator: architecture shapes, reproducible sampling, label mixing, the embedded file.

Its training (train_gan, the discriminators, the upsampler's training) is tested in tests/training/.
"""

from __future__ import annotations

import pytest
import torch

from models.archs.emoji_gan import DEFAULT_CONFIG, EmojiGenerator, to_size
from models.generators import EmojiGanGenerator
from models.registry import Builtin, ModelSpec, Task
from models.weights import ASSETS_DIR


@pytest.fixture(scope="module")
def adapter():
    torch.manual_seed(0)
    module = EmojiGenerator(**DEFAULT_CONFIG).eval()
    return emoji_adapter(module, tuple("abcdefghi"), DEFAULT_CONFIG["output_size"])


def emoji_adapter(module: EmojiGenerator, labels: tuple[str, ...], output_size: int) -> EmojiGanGenerator:
    spec = ModelSpec(
        id="emoji-test",
        task=Task.GENERATE,
        title="t",
        description="d",
        license="MIT",
        source=Builtin(),
        loader="ganvas-emoji-gan",
        labels=labels,
        truncation=True,
        output_size=output_size,
        params={**DEFAULT_CONFIG, "num_subclasses": module.num_subclasses},
    )
    return EmojiGanGenerator(spec, torch.device("cpu"), torch.float32, module)


def test_generator_shapes():
    g = EmojiGenerator(**DEFAULT_CONFIG).eval()
    z = torch.randn(3, DEFAULT_CONFIG["z_dim"])
    c = torch.nn.functional.one_hot(torch.tensor([0, 4, 8]), 9).float()
    x = g(z, c)
    assert x.shape == (3, 4, DEFAULT_CONFIG["base_size"], DEFAULT_CONFIG["base_size"])
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_adapter_outputs_64px_rgba_reproducibly(adapter):
    a = adapter.generate([1, 2], [0, 3])
    b = adapter.generate([1, 2], [0, 3])
    assert a.shape == (2, 4, 64, 64)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])


def test_label_mix_lies_between_the_two_labels(adapter):
    z = adapter.sample_latents([5, 5, 5])
    c = adapter.class_vectors([1, 6, 1])
    c[2] = 0.5 * c[0] + 0.5 * c[1]
    out = adapter.synthesize(z, c)
    assert not torch.equal(out[2], out[0]) and not torch.equal(out[2], out[1])


def test_premultiplied_resize_keeps_transparent_pixels_clean():
    x = torch.zeros(1, 4, 8, 8)
    x[:, 0, :, :4] = 1.0  # red, opaque on the left half
    x[:, 3, :, :4] = 1.0
    x[:, 1, :, 4:] = 1.0  # green hidden under alpha 0 on the right
    y = to_size(x, 16)
    edge = y[0, :, :, 7:9]
    assert float(edge[1].max()) < 1e-4  # no hidden green bleeds into the visible edge
    assert y.shape == (1, 4, 16, 16)


def test_embedded_weights_load_through_the_registry():
    from models.catalog import get_spec
    from models.loaders import load_model

    spec = get_spec("emoji-gan")
    assert (ASSETS_DIR / spec.source.path).is_file()
    gen = load_model(spec, torch.device("cpu"), torch.float32)
    imgs = gen.generate([0, 1, 2], [0, 8, 8])
    assert imgs.shape == (3, 4, 64, 64)
    alpha = imgs[:, 3]
    # trained stickers have transparent corners and an opaque middle
    assert float(alpha[:, :4, :4].mean()) < 0.3 and float(alpha[:, 24:40, 24:40].mean()) > 0.5


# ----------------------------------------------------------------------------- subgroup conditioning

SUB_GROUP = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 8])  # 13 subclasses over the 9 classes
SUB_PRIOR = torch.tensor([1.0, 3.0, 1.0, 1.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0])


def subclass_generator() -> EmojiGenerator:
    g = EmojiGenerator(**DEFAULT_CONFIG, num_subclasses=len(SUB_GROUP)).eval()
    g.sub_group, g.sub_prior = SUB_GROUP.clone(), SUB_PRIOR.clone()
    return g


def test_subclasses_are_drawn_from_the_requested_class_by_prior():
    g = subclass_generator()
    u = torch.rand(20_000, generator=torch.Generator().manual_seed(0))
    for c in range(9):
        onehot = torch.nn.functional.one_hot(torch.full((len(u),), c), 9).float()
        picked = g.subclass_vectors(onehot, u)
        assert torch.equal(picked.sum(1), torch.ones(len(u)))  # exactly one subclass per row
        chosen = picked.argmax(1)
        assert bool((SUB_GROUP[chosen] == c).all())  # always one of the requested class
        mine = (SUB_GROUP == c).nonzero().flatten()
        share = torch.bincount(chosen, minlength=len(SUB_GROUP))[mine].float() / len(u)
        expected = SUB_PRIOR[mine] / SUB_PRIOR[mine].sum()
        assert torch.allclose(share, expected, atol=0.02)  # 1:3, 1:0:2 and 1:1 splits; a zero prior is never drawn
    # a mix of two classes mixes the two picked subclasses with the same weights
    mix = torch.tensor([[0.25, 0, 0.75, 0, 0, 0, 0, 0, 0]])
    out = g.subclass_vectors(mix, torch.tensor([0.9]))
    assert torch.allclose(out, 0.25 * torch.eye(13)[1] + 0.75 * torch.eye(13)[5])  # class 0 -> 1 (u > 1/4), 2 -> 5


def test_subclass_quantile_is_uniform_for_every_truncation(adapter):
    from models.archs.emoji_gan import subclass_quantile

    for t in (1.0, 0.5):
        z = adapter.sample_latents(list(range(4000)), truncation=t)
        u = subclass_quantile(z, t)
        hist = torch.histc(u, bins=10, min=0, max=1) / len(u)
        assert float((hist - 0.1).abs().max()) < 0.025


def test_adapter_takes_class_or_subclass_labels():
    g = subclass_generator()
    torch.nn.init.normal_(g.sub_embed.weight)  # subclasses that matter
    labels = tuple("abcdefghi") + tuple(f"s{i}" for i in range(len(SUB_GROUP)))
    adapter = emoji_adapter(g, labels, output_size=32)  # the native size: no resampling
    seeds = list(range(12))
    z = adapter.sample_latents(seeds)
    # a subclass label: that subclass and its class, for every seed
    out = adapter.generate(seeds, [9 + 12] * len(seeds))  # subclass 12 of class 8
    onehot = torch.nn.functional.one_hot
    want = g(z, onehot(torch.full((12,), 8), 9).float(), onehot(torch.full((12,), 12), len(SUB_GROUP)).float())
    assert torch.allclose(out, want, atol=1e-5)
    # a class label: each seed draws one of the class's subclasses, not always the same one
    out = adapter.generate(seeds, [8] * len(seeds))
    per_sub = [
        g(z, onehot(torch.full((12,), 8), 9).float(), onehot(torch.full((12,), s), 13).float()) for s in (11, 12)
    ]
    match = [min(float((out[i] - p[i]).abs().max()) for p in per_sub) for i in seeds]
    assert max(match) < 1e-5
    assert len({int(torch.stack([(out[i] - p[i]).abs().max() for p in per_sub]).argmin()) for i in seeds}) == 2


# ----------------------------------------------------------------------------- the 2x sticker upsampler


def stickers(n: int = 16, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Hard-edged coloured rectangles on transparency."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, 4, size, size)
    for i in range(n):
        y0, x0 = torch.randint(2, size // 2 - 2, (2,), generator=g).tolist()
        y1, x1 = torch.randint(size // 2 + 2, size - 2, (2,), generator=g).tolist()
        out[i, :3, y0:y1, x0:x1] = torch.rand(3, 1, 1, generator=g)
        out[i, 3, y0:y1, x0:x1] = 1
    return out


def test_sticker_upsampler_starts_as_premultiplied_bicubic():
    from models.archs.emoji_gan import StickerUpsampler

    x = to_size(stickers(4), 16)
    torch.testing.assert_close(StickerUpsampler(8, 2)(x), to_size(x, 32))


def test_adapter_uses_the_upsampler_when_the_weights_have_one():
    torch.manual_seed(0)
    module = EmojiGenerator(**DEFAULT_CONFIG, upsampler_channels=8, upsampler_blocks=1).eval()
    torch.nn.init.normal_(module.upsampler.tail.weight, std=0.05)
    adapter = emoji_adapter(module, tuple("abcdefghi"), 64)
    out = adapter.generate([3, 4], [0, 1])
    z = adapter.sample_latents([3, 4])
    with torch.no_grad():
        native = module(z, adapter.class_vectors([0, 1]))
    assert out.shape == (2, 4, 64, 64) and 0 <= float(out.min()) and float(out.max()) <= 1
    torch.testing.assert_close(out, module.upsampler(native))
    assert not torch.allclose(out, to_size(native, 64), atol=1e-3)
