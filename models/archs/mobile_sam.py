"""MobileSAM (Zhang et al. 2023): a TinyViT-5M image encoder with SAM's prompt encoder and mask decoder.

The parameter names are those of MobileSAM's ``sam_model_registry["vit_t"]`` checkpoint, so its state dict loads
strictly. Inference only: a box prompt in the encoder's 1024x1024 frame gives low-resolution mask logits.
The checkpoint's classifier head (``image_encoder.norm_head``, ``head``) and mask-prompt layers
(``prompt_encoder.mask_downscaling``) are kept so that it loads as a whole; a box prompt does not use them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.archs.onednn import ConvAct


class ConvBN(nn.Sequential):
    """A convolution without bias followed by batch norm (children ``c`` and ``bn``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.c = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of (N,C,H,W)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------------- TinyViT encoder


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 convolutions: the image at a quarter of its size."""

    def __init__(self, cin: int, dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(ConvBN(cin, dim // 2, 3, 2), nn.GELU(), ConvBN(dim // 2, dim, 3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, added to the input."""

    def __init__(self, dim: int, expand: float) -> None:
        super().__init__()
        hidden = int(dim * expand)
        self.conv1 = ConvBN(dim, hidden)
        self.conv2 = ConvBN(hidden, hidden, 3, groups=hidden)
        self.conv3 = ConvBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.conv2(F.gelu(self.conv1(x))))
        return F.gelu(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """1x1, depthwise 3x3 at ``stride``, 1x1: the next stage's width (and half the size when ``stride`` is 2)."""

    def __init__(self, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(dim, out_dim)
        self.conv2 = ConvBN(out_dim, out_dim, 3, stride, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.gelu(self.conv2(F.gelu(self.conv1(x)))))


class WindowAttention(nn.Module):
    """Multi-head attention inside a square window, plus a learned bias per head for each (|dy|, |dx|) offset
    between two positions (bias index ``|dy| * window + |dx|``)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.head_dim = dim // heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(heads, window * window))

    def bias(self) -> torch.Tensor:
        """(heads, window², window²): the learned bias of every pair of positions in a window."""
        pos = torch.arange(self.window, device=self.attention_biases.device)
        rows, cols = pos.repeat_interleave(self.window), pos.repeat(self.window)
        index = (rows[:, None] - rows[None]).abs() * self.window + (cols[:, None] - cols[None]).abs()
        return self.attention_biases[:, index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        # per head, the projection holds q, k and v side by side
        q, k, v = self.qkv(self.norm(x)).view(b, n, self.heads, 3 * self.head_dim).transpose(1, 2).chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias().to(q.dtype))
        return self.proj(y.transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    """Layer norm, then a two-layer GELU MLP."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


def to_windows(t: torch.Tensor, s: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * windows, s * s, C): the map padded bottom-right with zeros to whole s x s windows,
    each window's positions in row order."""
    b, h, w, c = t.shape
    pad_b, pad_r = -h % s, -w % s
    if pad_b or pad_r:
        t = F.pad(t, (0, 0, 0, pad_r, 0, pad_b))
    nh, nw = (h + pad_b) // s, (w + pad_r) // s
    return t.reshape(b, nh, s, nw, s, c).transpose(2, 3).reshape(b * nh * nw, s * s, c)


def from_windows(t: torch.Tensor, h: int, w: int, s: int) -> torch.Tensor:
    """The inverse of :func:`to_windows` for an H x W map: (B * windows, s * s, C) -> (B, H, W, C), the padding
    cut off."""
    nh, nw = -(-h // s), -(-w // s)
    c = t.shape[-1]
    t = t.view(-1, nh, nw, s, s, c).transpose(2, 3).reshape(-1, nh * s, nw * s, c)
    return t[:, :h, :w]


class TinyViTBlock(nn.Module):
    """Window attention (the map padded bottom-right to whole windows), a depthwise 3x3 convolution, an MLP."""

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.window = window
        self.attn = WindowAttention(dim, heads, window)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = ConvBN(dim, dim, 3, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.attn(to_windows(x.permute(0, 2, 3, 1), self.window))
        x = x + from_windows(t, h, w, self.window).permute(0, 3, 1, 2)
        x = self.local_conv(x)
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.mlp(tokens)
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class Stage(nn.Module):
    """A stage's blocks, then its patch merging (none after the last)."""

    def __init__(self, blocks: list[nn.Module], downsample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class TinyViT(nn.Module):
    """TinyViT as MobileSAM's encoder: an MBConv stage, then window-attention stages, then a neck to the prompt
    width. (N,3,S,S) normalised -> (N, out_dim, S/16, S/16)."""

    def __init__(
        self,
        dims: list[int],
        depths: list[int],
        heads: list[int],
        windows: list[int],
        merge_strides: list[int],
        mlp_ratio: float,
        mbconv_expand: float,
        out_dim: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(3, dims[0])
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            if i == 0:
                blocks: list[nn.Module] = [MBConv(dims[0], mbconv_expand) for _ in range(depth)]
            else:
                blocks = [TinyViTBlock(dims[i], heads[i], windows[i], mlp_ratio) for _ in range(depth)]
            last = i == len(depths) - 1
            self.layers.append(Stage(blocks, None if last else PatchMerging(dims[i], dims[i + 1], merge_strides[i])))
        self.norm_head = nn.LayerNorm(dims[-1])
        self.head = nn.Linear(dims[-1], num_classes)
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], out_dim, 1, bias=False),
            LayerNorm2d(out_dim),
            nn.Conv2d(out_dim, out_dim, 3, padding=1, bias=False),
            LayerNorm2d(out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.neck(x)


def _folded(block: ConvBN, act: str | None = None) -> nn.Conv2d:
    """``block``'s convolution with its batch norm folded into weight and bias (a new layer on the same device),
    followed by ``act`` in the same oneDNN pass where it can (:class:`ConvAct`)."""
    c, bn = block.c, block.bn
    kind = {"act": act} if act else {}
    with torch.device(c.weight.device):
        layer = (ConvAct if act else nn.Conv2d)(
            c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, groups=c.groups, **kind
        )
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        layer.weight.copy_(c.weight * scale.view(-1, 1, 1, 1))
        layer.bias.copy_(bn.bias - bn.running_mean * scale)
    return layer.to(c.weight.dtype).eval().requires_grad_(False)


class _FoldedMBConv(nn.Module):
    """An :class:`MBConv` with folded norms, on channels-last maps."""

    def __init__(self, block: MBConv) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = (
            _folded(block.conv1, "gelu"),
            _folded(block.conv2, "gelu"),
            _folded(block.conv3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.conv3(self.conv2(self.conv1(x))).add_(x))


class _FoldedMerging(nn.Module):
    """A :class:`PatchMerging` (or the :class:`PatchEmbed`'s two convolutions) with folded norms: a GELU after
    each convolution but the last."""

    def __init__(self, *blocks: ConvBN) -> None:
        super().__init__()
        self.convs = nn.Sequential(*(_folded(b, "gelu") for b in blocks[:-1]), _folded(blocks[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class _WindowBlock(nn.Module):
    """A :class:`TinyViTBlock` (its own layers, shared) on a channels-last map: the attention bias computed once
    and added to the scores directly, the local convolution folded."""

    def __init__(self, block: TinyViTBlock) -> None:
        super().__init__()
        self.block, self.local = block, _folded(block.local_conv)
        self.register_buffer("bias", block.attn.bias().detach().clone(), persistent=False)

    def _attention(self, t: torch.Tensor) -> torch.Tensor:
        attn = self.block.attn
        b, n, _ = t.shape
        q, k, v = attn.qkv(attn.norm(t)).view(b, n, attn.heads, 3 * attn.head_dim).transpose(1, 2).chunk(3, dim=-1)
        scores = torch.matmul(q * attn.head_dim**-0.5, k.transpose(-1, -2)).add_(self.bias)
        return attn.proj(torch.matmul(scores.softmax(-1), v).transpose(1, 2).reshape(b, n, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.block.window
        nhwc = x.permute(0, 2, 3, 1)  # a view of the channels-last map
        t = from_windows(self._attention(to_windows(nhwc, s)), h, w, s)
        x = self.local((nhwc + t).permute(0, 3, 1, 2))
        tokens = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        tokens = tokens + self.block.mlp(tokens)
        return tokens.view(b, h, w, c).permute(0, 3, 1, 2)


class TinyViTInference(nn.Module):
    """A loaded :class:`TinyViT`'s forward as a leaner graph for a CPU: the same function (tested against
    MobileSAM's own code), in fewer passes over memory.

    - Batch norms are folded into their convolutions, and a GELU after a convolution runs in the same oneDNN
      pass where it can (the MBConv stage works on 256x256 maps of up to 256 channels: separate norms and
      activations cost a third of the encoder's time).
    - The maps stay channels-last (oneDNN's layout; an attention block's tokens are then a view of them), so
      the depthwise convolutions stay in oneDNN (a channels-first sum of a permuted map fell to PyTorch's slow
      convolution).
    - Window attention adds its learned bias, computed once here, to the scores itself: PyTorch's fused
      attention with a float mask scans the mask for all-masked rows at every call.

    The linear layers and the neck are the loaded model's own (shared, not copied)."""

    def __init__(self, net: TinyViT) -> None:
        super().__init__()
        layers: list[nn.Module] = [_FoldedMerging(net.patch_embed.seq[0], net.patch_embed.seq[2])]
        for stage in net.layers:
            for block in stage.blocks:
                layers.append(_FoldedMBConv(block) if isinstance(block, MBConv) else _WindowBlock(block))
            if stage.downsample is not None:
                m = stage.downsample
                layers.append(_FoldedMerging(m.conv1, m.conv2, m.conv3))
        self.body = nn.Sequential(*layers)
        self.neck = net.neck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.body(x.contiguous(memory_format=torch.channels_last)))


# ------------------------------------------------------------------------------------------- prompt encoder


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier features of positions in [0, 1]²: sin and cos of 2π (2p - 1) G for a fixed matrix G."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.zeros(2, features))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """(..., 2) positions (x, y) in [0, 1] -> (..., 2 * features)."""
        p = 2 * math.pi * ((2 * coords - 1) @ self.positional_encoding_gaussian_matrix)
        return torch.cat([p.sin(), p.cos()], dim=-1)

    def grid(self, h: int, w: int) -> torch.Tensor:
        """(2 * features, h, w): the encoding of the centre of every cell of an h x w grid."""
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        coords = torch.stack([xs[None].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self.encode(coords).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    """SAM's prompt encoder, for boxes: each box is its two corners, positionally encoded, plus a learned
    embedding per corner (``point_embeddings`` 2 and 3); with no mask prompt the dense embedding is
    ``no_mask_embed`` everywhere."""

    def __init__(self, dim: int, embedding_size: int, input_size: int, mask_channels: int) -> None:
        super().__init__()
        self.embedding_size, self.input_size = embedding_size, input_size
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(4))  # neg, pos, corner 1, 2
        self.not_a_point_embed = nn.Embedding(1, dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_channels // 4, 2, 2),
            LayerNorm2d(mask_channels // 4),
            nn.GELU(),
            nn.Conv2d(mask_channels // 4, mask_channels, 2, 2),
            LayerNorm2d(mask_channels),
            nn.GELU(),
            nn.Conv2d(mask_channels, dim, 1),
        )
        self.no_mask_embed = nn.Embedding(1, dim)

    def dense_pe(self) -> torch.Tensor:
        """(1, dim, E, E): the positional encoding of the image embedding's grid."""
        return self.pe_layer.grid(self.embedding_size, self.embedding_size)[None]

    def forward(
        self, boxes: torch.Tensor | None, points: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 4) boxes x0, y0, x1, y1 and/or (B, N, 2) foreground points x, y, in input pixels -> sparse
        (B, 2 + N, dim) and dense (B, dim, E, E). Points alone get SAM's padding point (``not_a_point_embed``)
        where the box's corners would be."""
        parts = []
        if points is not None:
            pos = self.pe_layer.encode((points.float() + 0.5) / self.input_size) + self.point_embeddings[1].weight
            parts.append(pos)
            if boxes is None:
                parts.append(self.not_a_point_embed.weight[None].expand(points.shape[0], 1, -1))
        if boxes is not None:
            corners = (boxes.float().reshape(-1, 2, 2) + 0.5) / self.input_size  # pixel centres
            parts.append(
                self.pe_layer.encode(corners)
                + torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight])[None]
            )
        if not parts:
            raise ValueError("a prompt needs a box or points")
        sparse = torch.cat(parts, dim=1)
        e = self.embedding_size
        dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(sparse.shape[0], -1, e, e)
        return sparse, dense


# ------------------------------------------------------------------------------------------- mask decoder


class Attention(nn.Module):
    """Multi-head attention whose queries, keys and values are projected to ``dim // downsample`` channels."""

    def __init__(self, dim: int, heads: int, downsample: int = 1) -> None:
        super().__init__()
        inner = dim // downsample
        self.heads = heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        y = F.scaled_dot_product_attention(q, k, v)
        b, _, n, _ = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(b, n, -1))


class MLPBlock(nn.Module):
    """Two linear layers with a ReLU between."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(F.relu(self.lin1(x)))


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, tokens attending to the image, a token MLP, the image attending to the tokens; a
    residual and a layer norm after each. The first block's self-attention has no positional encoding and no
    residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, downsample: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.self_attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(dim, mlp_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, heads, downsample)

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """SAM's decoder transformer: tokens and image embedding update each other, then a last token-to-image
    attention."""

    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int, downsample: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TwoWayAttentionBlock(dim, heads, mlp_dim, downsample, i == 0) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(
        self, image: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keys, key_pe = image.flatten(2).transpose(1, 2), image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        queries = queries + self.final_attn_token_to_image(queries + tokens, keys + key_pe, keys)
        return self.norm_final_attn(queries), keys


class MLP(nn.Module):
    """Linear layers with ReLU between them."""

    def __init__(self, dim: int, hidden: int, out: int, depth: int) -> None:
        super().__init__()
        sizes = [dim] + [hidden] * (depth - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, [*sizes[1:], out], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class MaskDecoder(nn.Module):
    """SAM's mask decoder: an IoU token and ``masks`` mask tokens run through the two-way transformer with the
    prompt tokens; each mask token's hypernetwork MLP weighs the channels of the 4x upscaled image embedding."""

    def __init__(self, dim: int, transformer: TwoWayTransformer, masks: int, iou_depth: int, iou_hidden: int) -> None:
        super().__init__()
        self.transformer = transformer
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(masks, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, 2, 2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, 2, 2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(masks))
        self.iou_prediction_head = MLP(dim, iou_hidden, masks, iou_depth)

    def forward(
        self, image: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every mask token's logits (B, masks, 4E, 4E) and predicted IoU (B, masks), for B prompts on one image."""
        n = self.mask_tokens.num_embeddings
        out_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight])[None].expand(sparse.shape[0], -1, -1)
        tokens = torch.cat([out_tokens, sparse], dim=1)
        src = image.expand(tokens.shape[0], -1, -1, -1) + dense
        pos = image_pe.expand(tokens.shape[0], -1, -1, -1)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos, tokens)
        up = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        hyper = torch.stack([mlp(hs[:, 1 + i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        b, c, h, w = up.shape
        masks = (hyper @ up.view(b, c, h * w)).view(b, n, h, w)
        return masks, self.iou_prediction_head(hs[:, 0])


# ------------------------------------------------------------------------------------------- the whole model


class MobileSam(nn.Module):
    """Encoder, prompt encoder and mask decoder; :meth:`embed` once per image, :meth:`predict` per box."""

    def __init__(self, image_encoder: TinyViT, prompt_encoder: PromptEncoder, mask_decoder: MaskDecoder) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """(1, 3, S, S) normalised and padded -> the image embedding (1, dim, S/16, S/16)."""
        return self.image_encoder(image)

    def predict(self, embedding: torch.Tensor, boxes: torch.Tensor, multimask: bool = False):
        """Low-resolution mask logits (B, 1 or 3, S/4, S/4) and their predicted IoU for (B, 4) boxes x0, y0, x1,
        y1 in the encoder's input pixels: the single-mask token, or the three multimask ones."""
        masks, iou = self.decode(embedding, boxes)
        pick = slice(1, None) if multimask else slice(0, 1)
        return masks[:, pick], iou[:, pick]

    def decode(
        self, embedding: torch.Tensor, boxes: torch.Tensor | None, points: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All four mask logits (B, 4, S/4, S/4) for ``boxes`` and/or foreground ``points`` on an image's
        ``embedding`` (see :meth:`embed`): the single-mask output then the three multimask ones (part, larger
        part, whole, roughly), with their predicted IoU (B, 4)."""
        sparse, dense = self.prompt_encoder(boxes, points)
        return self.mask_decoder(embedding, self.prompt_encoder.dense_pe(), sparse, dense)

    @staticmethod
    def single(masks: torch.Tensor, iou: torch.Tensor, stability: float = 0.0) -> torch.Tensor:
        """The single-mask logits (B, 1, S/4, S/4) of :meth:`decode`'s output. With ``stability`` > 0, a single
        mask less stable than that (the area of its logits above 0.05 over the area above -0.05) gives way to the
        multimask output of highest predicted IoU (SAM 2's dynamic multimask)."""
        single = masks[:, :1]
        if stability <= 0:
            return single
        score = (single > 0.05).sum((1, 2, 3)) / (single > -0.05).sum((1, 2, 3)).clamp_min(1)
        best = 1 + iou[:, 1:].argmax(1)
        multi = masks[torch.arange(masks.shape[0]), best][:, None]
        return torch.where((score >= stability).view(-1, 1, 1, 1), single, multi)

    def forward(
        self,
        image: torch.Tensor,
        boxes: torch.Tensor | None,
        stability: float = 0.0,
        points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The single-mask logits (B, 1, S/4, S/4) for ``boxes`` and/or foreground ``points`` on ``image`` (see
        :meth:`embed` and :meth:`single`)."""
        return self.single(*self.decode(self.embed(image), boxes, points), stability)


def build(params: dict) -> MobileSam:
    """MobileSAM from ``spec.params`` (the ``vit_t`` layout: TinyViT-5M, 1024 px input, 256-d prompts)."""
    dim, size = int(params["prompt_dim"]), int(params["input_size"])
    encoder = TinyViT(
        dims=list(params["dims"]),
        depths=list(params["depths"]),
        heads=list(params["heads"]),
        windows=list(params["windows"]),
        merge_strides=list(params["merge_strides"]),
        mlp_ratio=float(params["mlp_ratio"]),
        mbconv_expand=float(params["mbconv_expand"]),
        out_dim=dim,
        num_classes=int(params["num_classes"]),
    )
    prompt = PromptEncoder(dim, size // 16, size, int(params["mask_channels"]))
    transformer = TwoWayTransformer(
        int(params["decoder_depth"]), dim, int(params["decoder_heads"]), int(params["decoder_mlp"]), 2
    )
    decoder = MaskDecoder(dim, transformer, int(params["mask_tokens"]), 3, dim)
    return MobileSam(encoder, prompt, decoder)
