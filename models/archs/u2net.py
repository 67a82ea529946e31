"""U²-Net and U²-Net-p (Qin et al. 2020, "U²-Net: Going deeper with nested U-structure for salient object
detection").

Six encoder stages and five decoder stages, each a residual U-block (RSU): an input convolution, a small
U-Net of ``depth`` levels whose innermost layer is dilated, and the input convolution added back. The two
deepest stages (RSU-4F) replace pooling with growing dilation, as the feature maps are already small. Every
stage's output gives a side saliency map; a 1x1 convolution fuses the six into the matte.

The two variants differ only in widths: U²-Net-p keeps 16 inner and 64 outer channels everywhere (1.1 M
parameters); U²-Net widens them with depth (44 M). Batch norms are folded into the convolutions (the released
ONNX graphs hold them so), hence biased convs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.archs.onednn import ConvAct

#: (depth, dilated) of the encoder stages 1..6; the decoder mirrors stages 5..1.
STAGES = ((7, False), (6, False), (5, False), (4, False), (4, True), (4, True))
#: (inner, outer) channels per variant: of the encoder stages 1..6, then of the decoder stages 5..1.
WIDTHS: dict[str, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]] = {
    "u2netp": (((16, 64),) * 6, ((16, 64),) * 5),
    "u2net": (
        ((32, 64), (32, 128), (64, 256), (128, 512), (256, 512), (256, 512)),
        ((256, 512), (128, 256), (64, 128), (32, 64), (16, 64)),
    ),
}
DEFAULT_PARAMS = {"variant": "u2netp", "in_ch": 3}


def _upsample_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class ConvReLU(nn.Module):
    """3x3 convolution (batch norm folded in) with ``dilation``, then ReLU: one oneDNN pass where it can
    (:class:`~models.archs.onednn.ConvAct`; the narrow maps of U²-Net-p spend as long in a separate ReLU as in
    many of the convolutions). The child is named ``conv``, as the state dict's keys have it."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = ConvAct(in_ch, out_ch, 3, padding=dilation, dilation=dilation, act="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class RSU(nn.Module):
    """Residual U-block of ``depth`` levels. Pooled (RSU-L): levels 1..depth-1 at halving resolution, the
    innermost at dilation 2. Dilated (RSU-LF): one resolution, dilation doubling at each level."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int, dilated: bool = False) -> None:
        super().__init__()
        self.dilated = dilated
        dil = [2**i for i in range(depth)] if dilated else [1] * (depth - 1) + [2]
        self.conv_in = ConvReLU(in_ch, out_ch)
        self.enc = nn.ModuleList(
            [ConvReLU(out_ch if i == 0 else mid_ch, mid_ch, dil[i]) for i in range(depth)]
        )  # registered in the order they run
        self.dec = nn.ModuleList(
            [ConvReLU(2 * mid_ch, out_ch if i == 0 else mid_ch, dil[i]) for i in reversed(range(depth - 1))]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips = []
        h = x_in
        for i, layer in enumerate(self.enc):
            if i > 0 and not self.dilated and i < len(self.enc) - 1:
                h = _pool(h)
            h = layer(h)
            skips.append(h)
        h = skips.pop()
        for layer in self.dec:
            skip = skips.pop()
            if not self.dilated and h.shape[-2:] != skip.shape[-2:]:
                h = _upsample_like(h, skip)
            h = layer(torch.cat((h, skip), 1))
        # h is the last layer's new output: without autograd it can take the sum itself (no new full-size map)
        return h + x_in if torch.is_grad_enabled() else h.add_(x_in)


class U2Net(nn.Module):
    """image (N,3,H,W), ImageNet-normalised -> (fused, side1..side6) saliency logits' sigmoids, each (N,1,H,W).
    ``encoder`` and ``decoder`` give each stage's (inner, outer) channels, as in :data:`WIDTHS`."""

    def __init__(
        self,
        encoder: tuple[tuple[int, int], ...] = WIDTHS["u2netp"][0],
        decoder: tuple[tuple[int, int], ...] = WIDTHS["u2netp"][1],
        in_ch: int = 3,
    ) -> None:
        super().__init__()
        if len(encoder) != len(STAGES) or len(decoder) != len(STAGES) - 1:
            raise ValueError(f"U²-Net has {len(STAGES)} encoder and {len(STAGES) - 1} decoder stages")
        ins = [in_ch] + [out for _mid, out in encoder[:-1]]
        self.encoder = nn.ModuleList(
            [RSU(d, c, mid, out, f) for (d, f), c, (mid, out) in zip(STAGES, ins, encoder, strict=True)]
        )
        below = encoder[-1][1]  # channels coming up from the stage below
        dec = []
        for (d, f), (_mid, skip), (mid, out) in zip(
            reversed(STAGES[:-1]), reversed(encoder[:-1]), decoder, strict=True
        ):
            dec.append(RSU(d, below + skip, mid, out, f))
            below = out
        self.decoder = nn.ModuleList(dec)
        side_ch = [out for _mid, out in reversed(decoder)] + [encoder[-1][1]]  # stage 1 first
        self.side = nn.ModuleList([nn.Conv2d(c, 1, 3, padding=1) for c in side_ch])
        self.fuse = nn.Conv2d(len(STAGES), 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        h = x
        for i, stage in enumerate(self.encoder):
            if i > 0:
                h = _pool(h)
            h = stage(h)
            feats.append(h)
        h = feats.pop()
        decoded = [h]  # deepest first
        for stage in self.decoder:
            skip = feats.pop()
            h = stage(torch.cat((_upsample_like(h, skip), skip), 1))
            decoded.append(h)
        decoded.reverse()  # stage 1 first
        sides = [self.side[0](decoded[0])]
        sides += [_upsample_like(self.side[i](d), sides[0]) for i, d in enumerate(decoded[1:], start=1)]
        fused = self.fuse(torch.cat(sides, 1))
        return tuple(torch.sigmoid(s) for s in (fused, *sides))


def build(params: dict | None = None) -> U2Net:
    """The network for a spec's ``params``: ``variant`` (a key of :data:`WIDTHS`) and ``in_ch``."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    if p["variant"] not in WIDTHS:
        raise ValueError(f"unknown U²-Net variant {p['variant']!r}; known: {', '.join(WIDTHS)}")
    encoder, decoder = WIDTHS[p["variant"]]
    return U2Net(encoder, decoder, int(p["in_ch"]))
