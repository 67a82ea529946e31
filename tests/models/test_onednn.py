"""oneDNN's fused convolution and activation: the same numbers as the plain layers, and the plain path wherever
the fused op does not apply."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.archs.onednn import ACTIVATIONS, ConvAct, fused_available


def _conv(groups: int = 1) -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=groups).eval().requires_grad_(False)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("groups", [1, 8])
def test_fused_layer_computes_the_plain_layers_function(act, layout, groups):
    if not fused_available(act):
        pytest.skip(f"this PyTorch has no oneDNN convolution with a {act} post-op (the plain path is tested)")
    conv = _conv(groups)
    fused, plain = ConvAct.of(conv, act, fused=True), ConvAct.of(conv, act, fused=False)
    x = torch.randn(2, 8, 13, 17).contiguous(memory_format=layout)
    with torch.inference_mode():
        got, want = fused(x), plain(x)
        assert torch.equal(want, ACTIVATIONS[act][1](conv(x)))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_with_autograd_recording_the_plain_path_runs_and_gradients_flow():
    conv = _conv().requires_grad_(True)
    layer = ConvAct.of(conv, "relu")  # fused where available; not while autograd records
    x = torch.randn(1, 8, 9, 9, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and conv.weight.grad is not None and float(conv.weight.grad.abs().sum()) > 0


def test_the_layer_shares_its_parameters_and_stays_a_convolution():
    conv = _conv()
    layer = ConvAct.of(conv, "gelu")
    assert isinstance(layer, nn.Conv2d) and layer.weight is conv.weight and layer.bias is conv.bias
    assert layer.dilation == (2, 2) and set(layer.state_dict()) == {"weight", "bias"}
    with pytest.raises(ValueError, match="activation"):
        ConvAct(4, 4, 3, act="tanh")
    with pytest.raises(ValueError, match="zeros"):
        ConvAct.of(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), "relu")


def test_the_probe_runs_on_the_cpu_whatever_device_is_the_default():
    fused_available.cache_clear()
    with torch.device("meta"):  # networks are built on the meta device before their weights are loaded
        answer = fused_available("relu")
    fused_available.cache_clear()
    assert answer == fused_available("relu")
