"""The embedded inpainting network, its push-pull fill and its registry entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.archs.ganvas_inpaint import GanvasInpaintNet, build, push_pull_fill
from models.weights import ASSETS_DIR

BASES = ("pushpull", "telea")


def _tiny_net(base: str = "pushpull") -> GanvasInpaintNet:
    torch.manual_seed(0)
    net = build({"channels": [8, 8, 8, 8], "blocks": 1, "base": base}).eval()
    torch.nn.init.normal_(net.head.weight, std=0.5)  # the trained head is not zero: make it change pixels
    return net


@pytest.mark.parametrize("base", BASES)
def test_forward_any_size_keeps_outside_pixels_bit_identical(base):
    net = _tiny_net(base)
    assert net.size_multiple == 8
    torch.manual_seed(1)
    x = torch.rand(1, 3, 70, 90)
    m = torch.zeros(1, 1, 70, 90)
    m[..., 20:50, 30:60] = 1
    with torch.inference_mode():
        y = net(x, m)
    assert y.shape == x.shape
    outside = (m == 0).expand_as(x)
    assert torch.equal(y[outside], x[outside])
    inside = (m == 1).expand_as(x)
    assert not torch.equal(y[inside], x[inside])
    assert float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("base", BASES)
def test_forward_ignores_the_pixels_under_the_hole(base):
    net = _tiny_net(base)
    x = torch.rand(1, 3, 40, 48)
    m = torch.zeros(1, 1, 40, 48)
    m[..., 10:30, 12:36] = 1
    x2 = torch.where(m > 0, torch.rand_like(x), x)
    with torch.inference_mode():
        assert torch.equal(net(x, m), torch.where(m > 0, net(x2, m), x))


def test_untrained_telea_net_returns_the_opencv_telea_fill():
    cv2 = pytest.importorskip("cv2")
    net = build({"channels": [8, 8, 8, 8], "blocks": 1, "base": "telea"}).eval()  # zero head: no correction
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    hole = np.zeros((40, 56), np.uint8)
    hole[12:30, 20:44] = 255
    expected = cv2.inpaint(img * (hole[..., None] == 0), hole, 5, cv2.INPAINT_TELEA)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(hole > 0)[None, None].float()
    with torch.inference_mode():
        y = (net(x, m)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(y, expected)
    with pytest.raises(ValueError, match="base"):
        build({"base": "magic"})


def test_push_pull_keeps_valid_pixels_and_fills_a_constant_hole_exactly():
    img = torch.full((1, 3, 33, 47), 0.25)
    img[:, 1] = 0.75
    valid = torch.ones(1, 1, 33, 47)
    valid[..., 5:30, 10:40] = 0
    filled = push_pull_fill(img * valid, valid)
    assert torch.allclose(filled, img, atol=1e-5)
    ramp = torch.linspace(0, 1, 47).view(1, 1, 1, 47).expand(1, 3, 33, 47)
    out = push_pull_fill(ramp * valid, valid)
    assert torch.equal(out[valid.expand_as(out) > 0], ramp[valid.expand_as(ramp) > 0])
    # the fill of a horizontal ramp increases from left to right across the hole
    row = out[0, 0, 17, 10:40]
    assert float(row[-1] - row[0]) > 0.3


@pytest.mark.skipif(
    not (ASSETS_DIR / "ganvas-inpaint.safetensors").is_file(),
    reason="assets/ganvas-inpaint.safetensors is not trained yet",
)
def test_embedded_weights_load_through_the_registry():
    from models.adapters import ModuleInpainter
    from models.catalog import get_spec
    from models.loaders import load_model

    spec = get_spec("ganvas-inpaint")
    model = load_model(spec, torch.device("cpu"), torch.float32)
    assert isinstance(model, ModuleInpainter)
    assert spec.size_multiple == model.module.size_multiple
    x = torch.linspace(0, 1, 48).view(1, 1, 1, 48).expand(1, 3, 40, 48).contiguous()
    m = torch.zeros(1, 1, 40, 48)
    m[..., 12:28, 16:32] = 1
    y = model(x, m)
    assert torch.equal(y[(m == 0).expand_as(x)], x[(m == 0).expand_as(x)])
    assert float((y - x)[(m == 1).expand_as(x)].abs().mean()) < 0.1
