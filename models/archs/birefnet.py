"""BiRefNet (Zheng et al. 2024, "Bilateral Reference for High-Resolution Dichotomous Image Segmentation", MIT
licence), by default in its "lite" form: a Swin-T v1 backbone, ~44.3 M parameters, the architecture of the Hub
checkpoints ``ZhengPeng7/BiRefNet_lite`` and ``ZhengPeng7/BiRefNet_lite-2K``.

Encoder: the Swin transformer runs twice, on the image and on the image at half size; each of its four stages
(strides 4, 8, 16, 32) concatenates the two, the half-size features resized up ("cat" multi-scale input). The
three shallower stages, resized down to stride 32, are concatenated onto the deepest (context), and a squeeze
block brings that back to the deepest stage's width.

Decoder blocks (``BasicDecBlk``: conv, BN, ReLU, ASPP, conv, BN) use a deformable ASPP as attention: 1x1, 1x1,
3x3 and 7x7 modulated deformable convolutions plus a global-pool branch, fused by a 1x1 convolution. Going from
stride 32 up to stride 4, each stage adds a 1x1 lateral projection of the encoder stage to the upsampled
previous output, and concatenates the image itself cut into a grid of patches stacked along channels (32x32
patches at stride 32, ..., one at full size: the decoder input patches) after two convolutions. Below the three
deepest stages, a gradient-reference ("gdt") branch turns the features into a sigmoid attention map that
multiplies them (the outward reference; its training-only gradient-prediction heads and the multi-scale
supervision heads are kept so that checkpoints load, but are not run). The stride-4 output is upsampled to full
size and, with the full-size input block, mapped to one logit per pixel.

Module and parameter names match the upstream code, so its checkpoints load with ``strict=True`` as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import deform_conv2d

#: The input's height and width must be multiples of this: the deepest stage's stride.
STRIDE = 32


def _resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


# ----------------------------------------------------------------------------------------------------------------
# Swin transformer v1 (shifted-window attention), in the form used for dense prediction: feature maps whose sides
# are not a multiple of the window size are padded with zeros, and the padding takes part in the attention.


def _windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws * ws, C), windows in row-major order per image."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _unwindows(x: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def _shift_mask(hp: int, wp: int, ws: int, shift: int, device: torch.device) -> torch.Tensor:
    """(nW, 1, N, N) additive mask for shifted windows: -inf between tokens that were not neighbours before the
    cyclic shift. Regions are the last ``shift`` rows/columns, the ``ws - shift`` before them, and the rest."""

    def bands(n: int) -> torch.Tensor:
        band = torch.zeros(n, device=device)
        band[n - ws : n - shift] = 1
        band[n - shift :] = 2
        return band

    region = bands(hp)[:, None] * 3 + bands(wp)[None, :]
    region = _windows(region[None, :, :, None], ws).squeeze(-1)  # nW, N
    differ = region[:, None, :] != region[:, :, None]
    return torch.zeros(differ.shape, device=device).masked_fill(differ, float("-inf")).unsqueeze(1)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside ws x ws windows, with a learned bias per relative position and head."""

    def __init__(self, dim: int, num_heads: int, ws: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        # Row-major index of (dy + ws - 1, dx + ws - 1) in that table for every (query, key) pair of a window.
        yy, xx = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
        yy, xx = yy.flatten(), xx.flatten()
        index = (yy[:, None] - yy[None, :] + ws - 1) * (2 * ws - 1) + (xx[:, None] - xx[None, :] + ws - 1)
        self.register_buffer("relative_position_index", index)  # persistent: upstream checkpoints hold it
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def bias(self) -> torch.Tensor:
        """(1, heads, N, N) relative position bias."""
        n = self.relative_position_index.shape[0]
        table = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return table.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn_mask = self.bias().to(q.dtype)
        if mask is not None:  # (nW, 1, N, N), the same for every image of the batch
            attn_mask = (attn_mask + mask.to(q.dtype)).repeat(bw // mask.shape[0], 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, ws: int, shift: int) -> None:
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, ws)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor, h: int, w: int, mask: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        ws, shift = self.ws, self.shift
        y = F.pad(self.norm1(x).view(b, h, w, c), (0, 0, 0, -w % ws, 0, -h % ws))
        hp, wp = y.shape[1:3]
        if shift:
            y = torch.roll(y, (-shift, -shift), dims=(1, 2))
        y = _unwindows(self.attn(_windows(y, ws), mask if shift else None), ws, hp, wp)
        if shift:
            y = torch.roll(y, (shift, shift), dims=(1, 2))
        x = x + y[:, :h, :w].reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbourhoods -> one token of twice the width (odd sides padded with zeros first)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        # Channel order: (even row, even col), (odd, even), (even, odd), (odd, odd), as the weights expect.
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):
    """One stage: blocks alternating plain and shifted windows. Its ``downsample`` (patch merging, all stages but
    the last) is run by the caller, which also needs the stage's output before it."""

    def __init__(self, dim: int, depth: int, num_heads: int, ws: int, downsample: bool) -> None:
        super().__init__()
        self.ws = ws
        self.blocks = nn.ModuleList(
            [SwinTransformerBlock(dim, num_heads, ws, 0 if i % 2 == 0 else ws // 2) for i in range(depth)]
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        ws = self.ws
        mask = _shift_mask(-(-h // ws) * ws, -(-w // ws) * ws, ws, ws // 2, x.device)
        for blk in self.blocks:
            x = blk(x, h, w, mask)
        return x


class PatchEmbed(nn.Module):
    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=4, stride=4)
        self.norm = nn.LayerNorm(embed_dim)


class SwinTransformer(nn.Module):
    """Four stages at strides 4, 8, 16, 32; returns their layer-normed outputs as (B, C, H, W) maps."""

    def __init__(self, embed_dim: int, depths: tuple[int, ...], num_heads: tuple[int, ...], ws: int) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            [
                BasicLayer(embed_dim * 2**i, depths[i], num_heads[i], ws, downsample=i < len(depths) - 1)
                for i in range(len(depths))
            ]
        )
        for i in range(len(depths)):
            self.add_module(f"norm{i}", nn.LayerNorm(embed_dim * 2**i))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # Sides are multiples of 4 here (BiRefNet.forward checks the image for multiples of 32).
        x = self.patch_embed.proj(x)
        h, w = x.shape[2:]
        x = self.patch_embed.norm(x.flatten(2).transpose(1, 2))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, h, w)
            y = getattr(self, f"norm{i}")(x)
            outs.append(y.view(-1, h, w, y.shape[-1]).permute(0, 3, 1, 2).contiguous())
            if layer.downsample is not None:
                x = layer.downsample(x, h, w)
                h, w = (h + 1) // 2, (w + 1) // 2
        return outs


# ----------------------------------------------------------------------------------------------------------------
# Decoder modules. Batch norms everywhere (upstream builds them whenever its training batch size exceeds 1).


class DeformableConv2d(nn.Module):
    """Modulated deformable convolution (DCNv2): offsets and a (0, 2) modulation predicted from the input."""

    def __init__(self, in_ch: int, out_ch: int, k: int) -> None:
        super().__init__()
        self.padding = k // 2
        self.offset_conv = nn.Conv2d(in_ch, 2 * k * k, k, padding=self.padding)
        self.modulator_conv = nn.Conv2d(in_ch, k * k, k, padding=self.padding)
        self.regular_conv = nn.Conv2d(in_ch, out_ch, k, padding=self.padding, bias=False)
        for conv in (self.offset_conv, self.modulator_conv):  # start as a plain convolution
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = 2.0 * torch.sigmoid(self.modulator_conv(x))
        return deform_conv2d(x, self.offset_conv(x), self.regular_conv.weight, padding=self.padding, mask=mask)


class _ASPPModuleDeformable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, k: int) -> None:
        super().__init__()
        self.atrous_conv = DeformableConv2d(in_ch, out_ch, k)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.atrous_conv(x)))


class ASPPDeformable(nn.Module):
    """Deformable branches of kernel 1 (``aspp1``) and 1, 3, 7 (``aspp_deforms``), 256 channels each, and a
    global-average branch broadcast over the map; concatenated and fused back to ``ch`` by a 1x1 conv."""

    def __init__(self, ch: int, branch_ch: int = 256, kernels: tuple[int, ...] = (1, 3, 7)) -> None:
        super().__init__()
        self.aspp1 = _ASPPModuleDeformable(ch, branch_ch, 1)
        self.aspp_deforms = nn.ModuleList([_ASPPModuleDeformable(ch, branch_ch, k) for k in kernels])
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(ch, branch_ch, 1, bias=False), nn.BatchNorm2d(branch_ch), nn.ReLU()
        )
        self.conv1 = nn.Conv2d(branch_ch * (2 + len(kernels)), ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.global_avg_pool(x).expand(-1, -1, *x.shape[2:])
        y = torch.cat([self.aspp1(x), *(m(x) for m in self.aspp_deforms), pooled], dim=1)
        return F.relu(self.bn1(self.conv1(y)))  # then dropout, which is inactive in eval mode


class BasicDecBlk(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, inter_ch: int = 64) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_ch, inter_ch, 3, padding=1)
        self.bn_in = nn.BatchNorm2d(inter_ch)
        self.dec_att = ASPPDeformable(inter_ch)
        self.conv_out = nn.Conv2d(inter_ch, out_ch, 3, padding=1)
        self.bn_out = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dec_att(F.relu(self.bn_in(self.conv_in(x))))
        return self.bn_out(self.conv_out(x))


class BasicLatBlk(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SimpleConvs(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, inter_ch: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, inter_ch, 3, padding=1)
        self.conv_out = nn.Conv2d(inter_ch, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv1(x))


def image_to_patches(x: torch.Tensor, size: tuple[int, int] | torch.Size, legacy: bool = False) -> torch.Tensor:
    """Cut (B, C, H, W) into a grid of (H / h) x (W / w) patches of ``size`` (h, w), stacked along channels.

    Channel order: (c, grid row, grid column) -- einops ``b c (gh h) (gw w) -> b (c gh gw) h w``, upstream since
    2024-11-05; ``legacy``: (grid column, grid row, c), upstream's earlier order.
    """
    b, c, hh, ww = x.shape
    h, w = size
    x = x.view(b, c, hh // h, h, ww // w, w)
    x = x.permute(0, 4, 2, 1, 3, 5) if legacy else x.permute(0, 1, 2, 4, 3, 5)
    return x.reshape(b, -1, h, w)


def _gdt_convs(in_ch: int, n: int = 16) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, n, 3, padding=1), nn.BatchNorm2d(n), nn.ReLU())


def _conv1x1_head(in_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, 1, 1))


class Decoder(nn.Module):
    """Stages 4 (stride 32) to 1 (stride 4), then the full-size output conv. ``channels``: encoder widths from
    the deepest, e.g. (1536, 768, 384, 192) for Swin-T with the doubled ("cat") features."""

    def __init__(self, channels: tuple[int, ...], legacy_patch_order: bool = False) -> None:
        super().__init__()
        self.legacy_patch_order = legacy_patch_order
        ipt_out = [c // 8 for c in channels]
        dec_out = [*channels[1:], channels[-1] // 2]
        # Input blocks 5..1 see the image cut into 32x32, 16x16, 8x8, 4x4 patches and whole.
        for n, grid, out in zip((5, 4, 3, 2, 1), (32, 16, 8, 4, 1), ipt_out[:1] + ipt_out, strict=True):
            setattr(self, f"ipt_blk{n}", SimpleConvs(3 * grid * grid, out))
        for i, n in enumerate((4, 3, 2, 1)):
            setattr(self, f"decoder_block{n}", BasicDecBlk(channels[i] + ipt_out[max(0, i - 1)], dec_out[i]))
        self.conv_out1 = _conv1x1_head(dec_out[3] + ipt_out[3])
        for i, n in enumerate((4, 3, 2)):
            setattr(self, f"lateral_block{n}", BasicLatBlk(channels[i + 1], dec_out[i]))
        for i, n in enumerate((4, 3, 2)):  # multi-scale supervision heads: training only
            setattr(self, f"conv_ms_spvn_{n}", nn.Conv2d(dec_out[i], 1, 1))
        for i, n in enumerate((4, 3, 2)):
            setattr(self, f"gdt_convs_{n}", _gdt_convs(dec_out[i]))
        for prefix in ("gdt_convs_pred", "gdt_convs_attn"):  # pred: training only
            for n in (4, 3, 2):
                setattr(self, f"{prefix}_{n}", _conv1x1_head(16))

    def _with_patches(self, n: int, feat: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        patches = image_to_patches(image, feat.shape[2:], self.legacy_patch_order)
        return torch.cat([feat, getattr(self, f"ipt_blk{n}")(patches)], dim=1)

    def forward(self, image: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        x1, x2, x3, x4 = feats
        p = x4
        for n, lateral in ((4, None), (3, x3), (2, x2), (1, x1)):
            if lateral is not None:
                p = _resize(p, lateral.shape[2:]) + getattr(self, f"lateral_block{n + 1}")(lateral)
            p = getattr(self, f"decoder_block{n}")(self._with_patches(n + 1, p, image))
            if n > 1:  # gradient-reference attention
                gdt = getattr(self, f"gdt_convs_{n}")(p)
                p = p * torch.sigmoid(getattr(self, f"gdt_convs_attn_{n}")(gdt))
        p = _resize(p, image.shape[2:])
        return self.conv_out1(self._with_patches(1, p, image))


# ----------------------------------------------------------------------------------------------------------------


class BiRefNet(nn.Module):
    """BiRefNet with a Swin v1 backbone; the defaults are Swin-T (BiRefNet_lite). Swin-L (embed_dim 192, depths
    (2, 2, 18, 2), heads (6, 12, 24, 48), window 12) gives the full BiRefNet.

    ``legacy_patch_order`` stacks the decoder input patches in the order of upstream code before 2024-11-05.
    """

    def __init__(
        self,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        legacy_patch_order: bool = False,
    ) -> None:
        super().__init__()
        self.bb = SwinTransformer(embed_dim, tuple(depths), tuple(num_heads), window_size)
        # Encoder widths from the deepest stage, doubled by the half-size pass.
        channels = tuple(2 * embed_dim * 2**i for i in (3, 2, 1, 0))
        self.squeeze_module = nn.Sequential(BasicDecBlk(sum(channels), channels[0]))
        self.decoder = Decoder(channels, legacy_patch_order)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stage features at strides 4..32 of the image and its half-size copy, concatenated; the deepest also
        carries the three others resized to its size (context) and is squeezed back to its width."""
        full = self.bb(x)
        half = self.bb(_resize(x, (x.shape[2] // 2, x.shape[3] // 2)))
        feats = [torch.cat([f, _resize(g, f.shape[2:])], dim=1) for f, g in zip(full, half, strict=True)]
        x4 = feats[3]
        context = [_resize(f, x4.shape[2:]) for f in feats[:3]]
        feats[3] = self.squeeze_module(torch.cat([*context, x4], dim=1))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) ImageNet-normalised image, H and W multiples of 32 -> (N, 1, H, W) matte logits."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"BiRefNet expects an (N, 3, H, W) image batch, got shape {tuple(x.shape)}")
        if x.shape[2] % STRIDE or x.shape[3] % STRIDE:
            raise ValueError(f"BiRefNet needs height and width divisible by {STRIDE}, got {tuple(x.shape[2:])}")
        return self.decoder(x, self.encode(x))


#: The spec parameters that shape the network; the rest (input size, normalisation) belong to the adapter.
ARCH_PARAMS = ("embed_dim", "depths", "num_heads", "window_size", "legacy_patch_order")


def build(params: dict | None = None) -> BiRefNet:
    """The network of a spec's ``params`` (BiRefNet lite by default)."""
    return BiRefNet(**{k: v for k, v in (params or {}).items() if k in ARCH_PARAMS})
