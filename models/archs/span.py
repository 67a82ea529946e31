"""SPAN (Wan et al. 2024, "Swift Parameter-free Attention Network for Efficient Super-Resolution") as an
inference graph: the same function as spandrel's SPAN with its training branches fused, in fewer passes over
memory.

SPAN's convolutions are narrow (48 or 52 channels), so on a CPU the element-wise work between them costs as
much as a quarter of the time (bench/bench_upscale.py, profiled at one thread). This graph

- computes each block's parameter-free attention ``(c3 + x) * (sigmoid(c3) - 0.5)`` in place as
  ``(h + x / 2) * tanh(h)`` with ``h = c3 / 2`` (the halving is folded into the third convolution's weights;
  ``sigmoid(z) - 0.5 == tanh(z / 2) / 2``), two passes fewer and no new buffers, and no less accurate: both
  forms are within 3e-7 of a float64 run of spandrel's;
- fuses each SiLU into the convolution before it where oneDNN can (its pointwise post-op, the fused
  convolution PyTorch's own compiler emits on CPUs; checked against the plain path once per process, which
  is used otherwise), else applies it in place;
- runs the final 1x1 convolution over the four concatenated feature maps as four accumulated matrix products
  on the channels-last maps, without building the concatenation (a 1x1 convolution over 192 channels also
  leaves oneDNN for PyTorch's slow convolution).

Built from a spandrel SPAN whose branch blocks :func:`models.loaders.fuse_branches` has fused; no state dict
of its own.
"""

from __future__ import annotations

import torch
from torch import nn

from models.archs.onednn import ConvAct


def _plain_conv(block: nn.Module) -> nn.Conv2d:
    """The convolution a fused branch block (``_FusedBranches``) or a plain layer runs."""
    conv = getattr(block, "conv", block)
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"expected a fused convolution, got {type(block).__name__} (fuse the branches first)")
    return conv


class SplitPointwise(nn.Conv2d):
    """A 1x1 convolution over the channel concatenation of ``parts`` (each ``in_channels / len(parts)`` wide),
    summed part by part so the concatenation is never built. It stays an ``nn.Conv2d`` so FLOP counters and
    ``.to()`` treat it as the convolution it is."""

    def forward(self, parts: list[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = parts[0].shape
        weight = self.weight[:, :, 0, 0]
        # channels-last maps viewed as (pixels, channels) rows: a 1x1 convolution is one matrix product
        rows = [p.permute(0, 2, 3, 1).reshape(-1, c) for p in parts]
        bias = self.bias if self.bias is not None else weight.new_zeros(self.out_channels)
        out = torch.addmm(bias, rows[0], weight[:, :c].t())
        for i, r in enumerate(rows[1:], start=1):
            out.addmm_(r, weight[:, i * c : (i + 1) * c].t())
        return out.view(n, h, w, self.out_channels).permute(0, 3, 1, 2)


class SPANBlock(nn.Module):
    """One SPAB: three 3x3 convolutions (SiLU after the first two) and the parameter-free attention."""

    def __init__(self, c1: nn.Conv2d, c2: nn.Conv2d, c3: nn.Conv2d, fused: bool | None = None) -> None:
        super().__init__()
        self.c1, self.c2 = ConvAct.of(c1, "swish", fused), ConvAct.of(c2, "swish", fused)
        self.c3_half = nn.Conv2d(c3.in_channels, c3.out_channels, 3, padding=1, bias=c3.bias is not None)
        with torch.no_grad():
            self.c3_half.weight.copy_(c3.weight * 0.5)
            if c3.bias is not None:
                self.c3_half.bias.copy_(c3.bias * 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block output, the first convolution's activated output - SPAN feeds the last block's to its tail)."""
        a1 = self.c1(x)
        h = self.c3_half(self.c2(a1))
        t = torch.tanh(h)
        return h.add_(x, alpha=0.5).mul_(t), a1


class SPANInference(nn.Module):
    """spandrel's SPAN, fused, as a leaner inference graph; input and output in [0, 1] (not clamped here).
    ``fused_silu``: whether to use oneDNN's fused convolution and SiLU (default: where it is available)."""

    def __init__(self, net: nn.Module, fused_silu: bool | None = None) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(net.mean, dtype=torch.float32).view(1, -1, 1, 1).clone())
        self.img_range = float(net.img_range)
        self.normalise = net.no_norm is None
        self.head = _plain_conv(net.conv_1)
        self.blocks = nn.ModuleList(
            SPANBlock(_plain_conv(b.c1_r), _plain_conv(b.c2_r), _plain_conv(b.c3_r), fused_silu)
            for b in (net.block_1, net.block_2, net.block_3, net.block_4, net.block_5, net.block_6)
        )
        self.tail = _plain_conv(net.conv_2)
        cat = net.conv_cat
        self.cat = SplitPointwise(cat.in_channels, cat.out_channels, 1, bias=cat.bias is not None)
        self.cat.load_state_dict(cat.state_dict())
        self.upsampler = net.upsampler
        self.scale = int(net.upsampler[1].upscale_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalise:
            x = (x - self.mean.to(x.dtype)) * self.img_range
        feature = self.head(x)
        out, first = feature, None
        for block in self.blocks:
            out, a1 = block(out)
            first = out if first is None else first
        # the tail joins the head's features, the last block's (through conv_2), the first block's output and
        # the last block's first activation, in spandrel's order
        joined = self.cat([feature, self.tail(out), first, a1])
        return self.upsampler(joined)


def is_span(net: nn.Module) -> bool:
    """True for spandrel's SPAN network (known by its parts, not its import path)."""
    return all(hasattr(net, n) for n in ("conv_1", "block_6", "conv_cat", "conv_2", "upsampler", "img_range"))
