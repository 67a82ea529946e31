"""Tests for the super-resolution training tools (the weights they produced: tests/test_sr_compact.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.eval_sr import bicubic_up, make_lr, psnr_y, rgb_to_y, ssim_y
from training.train_sr import (
    LinearUpscaler,
    augment,
    build_model,
    cosine_lr,
    export,
    flops_per_output_pixel,
    linear_init,
    sample_patches,
    train_step,
)

pytestmark = pytest.mark.training


def test_rgb_to_y_endpoints() -> None:
    img = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    y = rgb_to_y(img)
    assert torch.allclose(y, torch.tensor([[[[16.0, 235.0]]]]))


def test_psnr_matches_formula_and_crops_border() -> None:
    target = torch.full((1, 3, 12, 12), 0.5)
    pred = target + 0.01
    pred[..., :4, :] = 1.0  # ruined border rows must not count with border=4
    expected = 20 * math.log10(255.0 / (0.01 * (65.481 + 128.553 + 24.966)))
    assert psnr_y(pred, target, border=4) == pytest.approx(expected, rel=1e-6)
    assert psnr_y(pred, target, border=0) < expected - 10
    assert psnr_y(target, target) == float("inf")


def test_ssim_identity_and_drop() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 24, 24, generator=g)
    assert ssim_y(a, a, border=0) == pytest.approx(1.0, abs=1e-12)
    b = (a + 0.2 * torch.rand(1, 3, 24, 24, generator=g)).clamp(0, 1)
    assert ssim_y(b, a, border=0) < 0.99


def test_make_lr_is_8bit_and_bicubic_restores_size() -> None:
    hr = torch.rand(1, 3, 16, 20)
    lr = make_lr(hr, 4)
    assert lr.shape == (1, 3, 4, 5)
    assert torch.equal(lr, (lr * 255).round() / 255)
    assert bicubic_up(lr, 4).shape == hr.shape
    flat = torch.full((1, 3, 8, 8), 0.4)
    assert torch.allclose(make_lr(flat, 2), torch.full((1, 3, 4, 4), round(0.4 * 255) / 255))


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


def test_flops_formula_matches_module() -> None:
    model = build_model(4, num_feat=8, num_conv=2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    macs_per_lr_pixel = sum(c.in_channels * c.out_channels * 9 for c in convs)
    assert flops_per_output_pixel(8, 2, 4) == pytest.approx(2 * macs_per_lr_pixel / 16)


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
