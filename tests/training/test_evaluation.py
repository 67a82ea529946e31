"""The evaluation protocols that training and bench/ share (training/evaluation.py), against their definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from training.evaluation import (
    IMAGENET_MEAN,
    VAL_CROP,
    VAL_CROPS_PER_PHOTO,
    bicubic_up,
    block_outputs,
    flops_per_output_pixel,
    hole_psnr,
    imagenet_input,
    make_lr,
    photo_paths,
    psnr_y,
    rgb_to_y,
    ssim_y,
    val_crops,
    val_photos,
    validation_set,
)
from training.train_sr import build_model

pytestmark = pytest.mark.training


def _photos(folder, sizes=((900, 700), (800, 1000), (1000, 800))):
    """Photos and a manifest as photos.py writes them; the first and last are held out."""
    rng = np.random.default_rng(0)
    entries = []
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
        split = "train" if 0 < i < len(sizes) - 1 else "val"
        entries.append({"name": f"pkg/p{i}", "file": f"p{i}.png", "split": split, "width": w, "height": h})
    (folder / "manifest.json").write_text(json.dumps({"photos": entries}))
    return folder


def test_held_out_photos_are_the_val_split_in_manifest_order(tmp_path):
    photos = _photos(tmp_path)
    assert val_photos(photos) == [("pkg/p0", photos / "p0.png"), ("pkg/p2", photos / "p2.png")]
    assert photo_paths(photos, "val") == [photos / "p0.png", photos / "p2.png"]
    assert photo_paths(photos, "train") == [photos / "p1.png"]


def test_sr_ground_truth_is_a_centred_crop_cut_to_the_scale(tmp_path):
    photos = _photos(tmp_path, sizes=((301, 250), (64, 64), (90, 500)))
    crops = val_crops(photos, 256, 4)
    assert [name for name, _ in crops] == ["pkg/p0", "pkg/p2"]
    assert [tuple(hr.shape) for _, hr in crops] == [(1, 3, 248, 256), (1, 3, 256, 88)]
    with Image.open(photos / "p0.png") as im:
        full = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255
    assert torch.equal(crops[0][1], full[..., 1:249, 22:278])  # centred: (250 - 248) // 2, (301 - 256) // 2


def test_inpainting_set_is_fixed_two_crops_per_held_out_photo(tmp_path):
    photos = _photos(tmp_path)
    first, again = validation_set(photos), validation_set(photos)
    assert len(first) == 2 * VAL_CROPS_PER_PHOTO
    for (crop, hole), (crop2, hole2) in zip(first, again, strict=True):
        assert crop.shape == (VAL_CROP, VAL_CROP, 3) and crop.dtype == np.uint8
        assert hole.shape == (VAL_CROP, VAL_CROP) and hole.dtype == bool and 0.04 < hole.mean() < 0.51
        assert np.array_equal(crop, crop2) and np.array_equal(hole, hole2)


def test_hole_psnr_counts_the_hole_only():
    target = np.full((8, 8, 3), 100, np.uint8)
    hole = np.zeros((8, 8), bool)
    hole[2:4, 2:6] = True
    pred = target.copy()
    pred[hole] = 110
    pred[0, 0] = 0  # outside the hole: does not count
    assert hole_psnr(pred, target, hole) == pytest.approx(10 * math.log10(255.0**2 / 100))
    assert hole_psnr(target, target, hole) == float("inf")


def test_imagenet_input_is_224_px_normalised():
    x = imagenet_input(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(2, 3, 32, 48))
    assert x.shape == (2, 3, 224, 224)
    assert torch.allclose(x, torch.zeros(2, 3, 224, 224), atol=1e-5)  # ImageNet's mean colour maps to 0


def test_block_outputs_are_the_tapped_blocks_in_order():
    class Net(nn.Module):  # an EfficientNet's attribute names, identity stem, blocks that add their index
        def __init__(self) -> None:
            super().__init__()
            self._conv_stem, self._bn0, self._swish = nn.Identity(), nn.Identity(), nn.Identity()
            self._blocks = [lambda h, i=i: h + i for i in range(8)]

    out = block_outputs(Net(), torch.zeros(1, 1, 2, 2), (1, 4, 6))
    assert [float(h[0, 0, 0, 0]) for h in out] == [sum(range(i + 1)) for i in (1, 4, 6)]


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


def test_flops_formula_matches_module() -> None:
    model = build_model(4, num_feat=8, num_conv=2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    macs_per_lr_pixel = sum(c.in_channels * c.out_channels * 9 for c in convs)
    assert flops_per_output_pixel(8, 2, 4) == pytest.approx(2 * macs_per_lr_pixel / 16)
