"""The emoji GAN: architecture shapes, reproducible sampling, label mixing, the embedded file."""

from __future__ import annotations

import pytest
import torch

from models.archs.emoji_gan import DEFAULT_CONFIG, EmojiDiscriminator, EmojiGanGenerator, EmojiGenerator, to_size
from models.registry import Builtin, ModelSpec, Task
from models.weights import ASSETS_DIR


@pytest.fixture(scope="module")
def adapter():
    torch.manual_seed(0)
    module = EmojiGenerator(**DEFAULT_CONFIG).eval()
    spec = ModelSpec(
        id="emoji-test",
        task=Task.GENERATE,
        title="t",
        description="d",
        license="MIT",
        source=Builtin(),
        arch="ganvas-emoji-gan",
        labels=tuple("abcdefghi"),
        truncation=True,
        output_size=DEFAULT_CONFIG["output_size"],
        params=DEFAULT_CONFIG,
    )
    return EmojiGanGenerator(spec, torch.device("cpu"), torch.float32, module)


def test_generator_and_discriminator_shapes():
    g = EmojiGenerator(**DEFAULT_CONFIG).eval()
    z = torch.randn(3, DEFAULT_CONFIG["z_dim"])
    c = torch.nn.functional.one_hot(torch.tensor([0, 4, 8]), 9).float()
    x = g(z, c)
    assert x.shape == (3, 4, DEFAULT_CONFIG["base_size"], DEFAULT_CONFIG["base_size"])
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    d = EmojiDiscriminator(num_classes=9)
    assert d(x * 2 - 1, torch.tensor([0, 4, 8])).shape == (3,)


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
    from models.loaders import load_model
    from models.registry import get_spec

    spec = get_spec("emoji-gan")
    assert (ASSETS_DIR / spec.source.path).is_file()
    gen = load_model(spec, torch.device("cpu"), torch.float32)
    imgs = gen.generate([0, 1, 2], [0, 8, 8])
    assert imgs.shape == (3, 4, 64, 64)
    alpha = imgs[:, 3]
    # trained stickers have transparent corners and an opaque middle
    assert float(alpha[:, :4, :4].mean()) < 0.3 and float(alpha[:, 24:40, 24:40].mean()) > 0.5
