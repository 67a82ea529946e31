"""Branch blocks fused once at load: the same output as spandrel's per-forward fusing."""

from __future__ import annotations

import torch
from spandrel.architectures.SPAN import SPAN

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
