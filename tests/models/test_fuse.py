"""Branch blocks fused once at load: the same output as spandrel's per-forward fusing."""

from __future__ import annotations

import pytest
import torch
from spandrel.architectures.SPAN import SPAN

from models.archs.onednn import fused_available
from models.archs.span import SPANInference, is_span
from models.loaders import fuse_branches


def test_span_fused_once_gives_the_same_output():
    torch.manual_seed(0)
    net = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.1)  # every branch matters: a fusion that dropped one would show
    x = torch.rand(1, 3, 20, 17)
    with torch.inference_mode():
        before = net(x)
    assert fuse_branches(net) > 0
    assert not any(hasattr(m, "update_params") for m in net.modules())
    with torch.inference_mode():
        after = net(x)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    assert fuse_branches(net) == 0  # nothing left to fuse


def _random_span(channels: int, scale: int) -> torch.nn.Module:
    torch.manual_seed(1)
    net = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=channels, upscale=scale).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    fuse_branches(net)
    return net


@pytest.mark.parametrize(("channels", "scale"), [(8, 2), (12, 4)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("fused", [False, True])
def test_span_inference_graph_computes_spandrels_function(channels, scale, layout, fused):
    if fused and not fused_available("swish"):
        pytest.skip("this PyTorch has no oneDNN convolution with a SiLU post-op (the plain path is tested)")
    net = _random_span(channels, scale)
    fast = SPANInference(net, fused_silu=fused).eval()
    assert fast.scale == scale
    x = torch.rand(1, 3, 19, 23).contiguous(memory_format=layout)
    with torch.inference_mode():
        want = net(x.clone())
        got = fast(x.clone())
    assert got.shape == (1, 3, 19 * scale, 23 * scale)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)


def test_span_inference_graph_counts_the_same_convolutions():
    """The tail's split 1x1 convolution is still a convolution to FLOP counters (bench_upscale's ratio)."""
    from bench.bench_upscale import conv_flops_per_pixel

    net = _random_span(8, 2)
    assert conv_flops_per_pixel(SPANInference(net), 2) == conv_flops_per_pixel(net, 2)


def test_span_inference_graph_needs_fused_branches():
    net = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).eval()
    with pytest.raises(TypeError, match="fuse the branches"):
        SPANInference(net)


def test_span_is_known_by_its_parts():
    from spandrel.architectures.Compact import Compact

    assert is_span(_random_span(8, 2))
    assert not is_span(Compact(num_feat=8, num_conv=2, upscale=2))
