"""BigGAN-deep generator (Brock et al. 2019) in the layout of the pytorch-pretrained-BigGAN Hub files.

The module's ``state_dict()`` matches ``osanseviero/BigGAN-deep-128/pytorch_model.bin`` key for key:
spectral norm is stored as ``weight_orig``/``weight_u``/``weight_v`` (sigma = u . (W v) from the
stored vectors, never updated here), and every batch norm keeps ``n_stats`` rows of statistics,
one per truncation value in [0, 1], interpolated at sampling time (the truncation trick).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InvalidInputError


class _SpectralNormed(nn.Module):
    """Base for layers whose weight is ``weight_orig / sigma`` with sigma from stored u, v."""

    def _init_spectral(self, shape: tuple[int, ...], bias: bool) -> None:
        self.weight_orig = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.empty(shape[0])) if bias else None
        fan_in = math.prod(shape[1:])
        self.register_buffer("weight_u", torch.empty(shape[0]))
        self.register_buffer("weight_v", torch.empty(fan_in))
        if not self.weight_orig.is_meta:  # on "meta" the loader brings the values; init math there is slow
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, power_iterations: int = 3) -> None:
        """PyTorch's default layer init, then u, v from a few power iterations so sigma is meaningful."""
        nn.init.kaiming_uniform_(self.weight_orig, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.weight_v.numel())
            nn.init.uniform_(self.bias, -bound, bound)
        w = self.weight_orig.flatten(1)
        u = F.normalize(torch.randn(w.shape[0], device=w.device, dtype=w.dtype), dim=0)
        v = F.normalize(w.t() @ u, dim=0)
        for _ in range(power_iterations):
            u = F.normalize(w @ v, dim=0)
            v = F.normalize(w.t() @ u, dim=0)
        self.weight_u.copy_(u)
        self.weight_v.copy_(v)

    def sigma(self) -> torch.Tensor:
        """The spectral-norm estimate u . (W v) from the stored vectors (eval-time behaviour)."""
        return torch.dot(self.weight_u, self.weight_orig.flatten(1) @ self.weight_v)

    def normalized_weight(self) -> torch.Tensor:
        """``weight_orig / sigma``: the weight the layer actually applies."""
        return self.weight_orig / self.sigma()


class SNLinear(_SpectralNormed):
    """Spectrally normalised linear layer (keys ``weight_orig``, ``weight_u``, ``weight_v``, ``bias``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self._init_spectral((out_features, in_features), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class SNConv2d(_SpectralNormed):
    """Spectrally normalised 2-D convolution, stride 1, 'same' padding for odd kernels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        self._init_spectral((out_channels, in_channels, kernel_size, kernel_size), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.normalized_weight(), self.bias, padding=self.padding)


class TruncationBatchNorm(nn.Module):
    """Inference batch norm with statistics per truncation value, optionally class-conditional.

    Row k of ``running_means``/``running_vars`` holds the statistics measured at truncation
    k / (n_stats - 1); other truncations interpolate linearly between the two nearest rows
    (the pytorch-pretrained-BigGAN port swaps the two weights, which jumps at every grid value).
    Conditional: gain = 1 + scale(cond), shift = offset(cond), both bias-free SN linears.
    """

    def __init__(self, num_features: int, cond_dim: int | None = None, n_stats: int = 51, eps: float = 1e-4) -> None:
        super().__init__()
        if n_stats < 2:
            raise ValueError("n_stats must be at least 2")
        self.n_stats = n_stats
        self.eps = eps
        self.conditional = cond_dim is not None
        self.register_buffer("running_means", torch.zeros(n_stats, num_features))
        self.register_buffer("running_vars", torch.ones(n_stats, num_features))
        if cond_dim is not None:
            self.scale = SNLinear(cond_dim, num_features, bias=False)
            self.offset = SNLinear(cond_dim, num_features, bias=False)
        else:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))

    def stats(self, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, var) for this truncation: row k exactly at k/(n_stats-1), linear in between."""
        t = float(truncation)
        if not 0.0 <= t <= 1.0:
            raise InvalidInputError("Truncation must be between 0 and 1.")
        pos = t * (self.n_stats - 1)
        lo = min(int(math.floor(pos)), self.n_stats - 1)
        frac = pos - lo
        if frac < 1e-6 or 1.0 - frac < 1e-6:  # a grid value up to float rounding (e.g. 0.58 * 50)
            k = int(round(pos))
            return self.running_means[k], self.running_vars[k]
        mean = torch.lerp(self.running_means[lo], self.running_means[lo + 1], frac)
        var = torch.lerp(self.running_vars[lo], self.running_vars[lo + 1], frac)
        return mean, var

    def forward(self, x: torch.Tensor, truncation: float, cond: torch.Tensor | None = None) -> torch.Tensor:
        mean, var = self.stats(truncation)
        if not self.conditional:
            return F.batch_norm(x, mean, var, self.weight, self.bias, False, 0.0, self.eps)
        if cond is None:
            raise ValueError("a conditional batch norm needs a condition vector")
        inv = torch.rsqrt(var + self.eps)
        gain = (1 + self.scale(cond)) * inv
        shift = self.offset(cond) - mean * gain
        return torch.addcmul(shift[:, :, None, None], x, gain[:, :, None, None])


class DeepResBlock(nn.Module):
    """BigGAN-deep residual block: 1x1 down (channels / 4), two 3x3, 1x1 up; BN-ReLU before each conv.

    Upsampling (nearest, x2) happens before the first 3x3 conv and on the skip path; when the
    block narrows the channels, the skip keeps only the first ``out_ch`` channels.
    """

    def __init__(
        self, in_ch: int, out_ch: int, cond_dim: int, upsample: bool, n_stats: int, eps: float, reduction: int = 4
    ) -> None:
        super().__init__()
        if out_ch > in_ch:
            raise ValueError("a BigGAN-deep block cannot widen its channels")
        mid = in_ch // reduction
        self.upsample = upsample
        self.out_ch = out_ch
        self.bn_0 = TruncationBatchNorm(in_ch, cond_dim, n_stats, eps)
        self.conv_0 = SNConv2d(in_ch, mid, 1)
        self.bn_1 = TruncationBatchNorm(mid, cond_dim, n_stats, eps)
        self.conv_1 = SNConv2d(mid, mid, 3)
        self.bn_2 = TruncationBatchNorm(mid, cond_dim, n_stats, eps)
        self.conv_2 = SNConv2d(mid, mid, 3)
        self.bn_3 = TruncationBatchNorm(mid, cond_dim, n_stats, eps)
        self.conv_3 = SNConv2d(mid, out_ch, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, truncation: float) -> torch.Tensor:
        h = self.conv_0(F.relu(self.bn_0(x, truncation, cond)))
        h = F.relu(self.bn_1(h, truncation, cond))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv_1(h)
        h = self.conv_2(F.relu(self.bn_2(h, truncation, cond)))
        h = self.conv_3(F.relu(self.bn_3(h, truncation, cond)))
        skip = x[:, : self.out_ch]
        if self.upsample:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        return h + skip


class SelfAttention(nn.Module):
    """SAGAN self-attention: keys/values max-pooled 2x2, output scaled by a learned ``gamma``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.snconv1x1_theta = SNConv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_phi = SNConv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_g = SNConv2d(channels, channels // 2, 1, bias=False)
        self.snconv1x1_o_conv = SNConv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        query = self.snconv1x1_theta(x).flatten(2)  # (N, C/8, HW)
        key = F.max_pool2d(self.snconv1x1_phi(x), 2).flatten(2)  # (N, C/8, HW/4)
        value = F.max_pool2d(self.snconv1x1_g(x), 2).flatten(2)  # (N, C/2, HW/4)
        attn = torch.softmax(query.transpose(1, 2) @ key, dim=-1)  # (N, HW, HW/4)
        out = (value @ attn.transpose(1, 2)).view(n, -1, h, w)
        return x + self.gamma * self.snconv1x1_o_conv(out)


class _Trunk(nn.Module):
    """Everything after the class embedding (the ``generator.*`` keys)."""

    def __init__(
        self,
        cond_dim: int,
        ch: int,
        layers: list[tuple[bool, int, int]],
        attention_layer_position: int,
        n_stats: int,
        eps: float,
    ) -> None:
        super().__init__()
        self.start_ch = ch * layers[0][1]
        self.gen_z = SNLinear(cond_dim, 4 * 4 * self.start_ch)
        blocks: list[nn.Module] = []
        for i, (up, cin, cout) in enumerate(layers):
            if i == attention_layer_position:
                blocks.append(SelfAttention(ch * cin))
            blocks.append(DeepResBlock(ch * cin, ch * cout, cond_dim, bool(up), n_stats, eps))
        self.layers = nn.ModuleList(blocks)
        self.bn = TruncationBatchNorm(ch * layers[-1][2], None, n_stats, eps)
        # The port keeps TF's full-width last conv; only its first three channels are RGB.
        self.conv_to_rgb = SNConv2d(ch * layers[-1][2], ch * layers[-1][2], 3)

    def forward(self, cond: torch.Tensor, truncation: float) -> torch.Tensor:
        # gen_z's output is laid out (H, W, C) as in TensorFlow.
        h = self.gen_z(cond).view(-1, 4, 4, self.start_ch).permute(0, 3, 1, 2).contiguous()
        for layer in self.layers:
            h = layer(h, cond, truncation) if isinstance(layer, DeepResBlock) else layer(h)
        h = self.conv_to_rgb(F.relu(self.bn(h, truncation)))
        return torch.tanh(h[:, :3])


class BigGANDeep(nn.Module):
    """Class-conditional BigGAN-deep: (z, class vector, truncation) -> RGB in [-1, 1].

    The condition vector is ``cat(z, embeddings(class_vector))``; it feeds the first linear layer
    and every conditional batch norm. Arguments mirror the Hub file's ``config.json``.
    """

    def __init__(
        self,
        z_dim: int = 128,
        class_embed_dim: int = 128,
        channel_width: int = 128,
        num_classes: int = 1000,
        layers: list | tuple = (),
        attention_layer_position: int = 8,
        eps: float = 1e-4,
        n_stats: int = 51,
        output_dim: int | None = None,
    ) -> None:
        super().__init__()
        spec_layers = [(bool(u), int(a), int(b)) for u, a, b in layers]
        if not spec_layers:
            raise ValueError("BigGAN-deep needs at least one layer")
        size = 4 * 2 ** sum(u for u, _, _ in spec_layers)
        if output_dim is not None and output_dim != size:
            raise ValueError(f"layers upsample 4x4 to {size}x{size}, but output_dim is {output_dim}")
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.output_dim = size
        self.embeddings = nn.Linear(num_classes, class_embed_dim, bias=False)
        self.generator = _Trunk(
            z_dim + class_embed_dim, channel_width, spec_layers, attention_layer_position, n_stats, eps
        )

    def forward(self, z: torch.Tensor, class_vector: torch.Tensor, truncation: float) -> torch.Tensor:
        cond = torch.cat((z, self.embeddings(class_vector)), dim=1)
        return self.generator(cond, truncation)


def build(params: dict) -> BigGANDeep:
    """The network for a spec's ``params`` (the Hub file's ``config.json``)."""
    return BigGANDeep(**params)
