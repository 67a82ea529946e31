"""Tests for the super-resolution training tools (their evaluation: test_evaluation.py; the weights they produced:
tests/test_sr_compact.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.train_sr import (
    LinearUpscaler,
    augment,
    build_model,
    cosine_lr,
    export,
    linear_init,
    sample_patches,
    train_step,
)

pytestmark = pytest.mark.training


def test_sample_patches_shape_and_energy_preference() -> None:
    rng = np.random.default_rng(0)
    img = np.full((64, 128, 3), 128, dtype=np.uint8)
    img[:, 64:] = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # right half textured
    patches = sample_patches(img, 16, 20, rng)
    assert patches.shape == (20, 3, 16, 16) and patches.dtype == np.uint8
    textured = sum(float(p.std()) > 10 for p in patches)
    assert textured >= 15
    assert sample_patches(img[:8], 16, 5, rng).shape == (0, 3, 16, 16)


def test_augment_keeps_pixels() -> None:
    batch = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    out = augment(batch, torch.Generator().manual_seed(1))
    assert out.shape == batch.shape
    for a, b in zip(out, batch, strict=True):
        assert torch.equal(a.flatten().sort().values, b.flatten().sort().values)


def test_cosine_lr_schedule() -> None:
    assert cosine_lr(1.0, 0.0) < 0.1
    assert cosine_lr(1.0, 0.02) == pytest.approx(1.0)
    assert cosine_lr(1.0, 1.0) == pytest.approx(0.01)


def test_training_smoke_reduces_loss(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(2, num_feat=8, num_conv=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.linspace(0, 1, 16)
    hr = (0.5 + 0.4 * torch.sin(6 * x[None, :] + 3 * x[:, None])).expand(2, 3, 16, 16).contiguous()
    losses = [train_step(model, opt, hr, 2) for _ in range(15)]
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0]
    path = tmp_path / "m.safetensors"
    export(model, path, {"scale": "2"})
    from spandrel import ModelLoader

    desc = ModelLoader().load_from_file(str(path))
    assert desc.scale == 2 and desc.architecture.id == "Compact"


@pytest.mark.parametrize("scale,hidden", [(2, 4), (4, 5)])
def test_linear_init_reproduces_the_linear_upscaler(scale: int, hidden: int) -> None:
    torch.manual_seed(0)
    lin = LinearUpscaler(scale, hidden)
    model = linear_init(build_model(scale, num_feat=16, num_conv=2), lin)
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        assert torch.allclose(model(x), lin(x), atol=1e-5)
    with pytest.raises(ValueError):
        linear_init(build_model(scale, num_feat=8, num_conv=2), LinearUpscaler(scale, 3))
