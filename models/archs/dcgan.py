"""DCGAN's generator (Radford, Metz and Chintala 2015): a latent vector grown into an image by transposed convs.

The layout is the classic 64x64 one: a 4x4 transposed conv from the latent (as a 1x1 map) to 8 x ``channels``
features at 4x4, then stride-2 transposed convs halving the features and doubling the size up to 32x32 at
``channels``, and a last one to RGB at 64x64, each but the last followed by batch norm and ReLU, then tanh.
The layers sit in one ``main`` sequence (conv, norm, ReLU per stage), whose indices are the state-dict keys.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


class DCGANGenerator(nn.Module):
    """(N, z_dim) latents -> (N, 3, S, S) RGB in [-1, 1], S = 4 * 2 ** (number of doubling stages)."""

    def __init__(self, z_dim: int = 100, channels: int = 64, output_size: int = 64) -> None:
        super().__init__()
        doublings = (output_size // 4).bit_length() - 1
        if output_size < 8 or 4 * 2**doublings != output_size:
            raise ValueError(f"output_size must be 4 times a power of two, at least 8 (got {output_size})")
        self.z_dim = z_dim
        width = channels * 2 ** (doublings - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False)]
        for _ in range(doublings - 1):
            layers += [nn.BatchNorm2d(width), nn.ReLU(True), nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False)]
            width //= 2
        layers += [nn.BatchNorm2d(width), nn.ReLU(True), nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z[:, :, None, None])


@functools.cache
def packed_fusion_available() -> bool:
    """Whether oneDNN's transposed convolution with a fused activation takes packed weights here and computes
    ``relu(conv_transpose(x))`` (probed once per process)."""
    mkldnn = getattr(torch.ops, "mkldnn", None)
    if mkldnn is None or not torch.backends.mkldnn.is_available():
        return False
    conv = nn.ConvTranspose2d(4, 3, 4, 2, 1).eval()
    x = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode():
            layer = _Layer(conv.weight, conv.bias, conv, "relu", "packed")
            got = layer(x.contiguous(memory_format=torch.channels_last))
            want = torch.relu(conv(x))
    except (AttributeError, RuntimeError, TypeError, NotImplementedError):
        return False
    return got.shape == want.shape and torch.allclose(got, want, atol=1e-5, rtol=1e-4)


class _Layer:
    """One transposed convolution and its activation ("relu" or "tanh"), run one of three ways (``mode``):
    "packed", one oneDNN call with the activation fused and the weights packed once; "gemm", one matrix product
    of the input pixels by the kernel, its overlapping outputs summed by ``F.fold`` (col2im); "plain", PyTorch's
    transposed convolution."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, conv: nn.ConvTranspose2d, act: str, mode: str):
        self.args = (list(conv.padding), list(conv.output_padding), list(conv.stride), list(conv.dilation))
        self.groups, self.act, self.mode, self.bias = conv.groups, act, mode, bias
        self.kernel, self.out_channels = conv.kernel_size, conv.out_channels
        self.weight = weight
        if mode == "packed":
            pad, out_pad, stride, dil = self.args
            self.weight = torch.ops.mkldnn._reorder_convolution_transpose_weight(
                weight.contiguous(), pad, out_pad, stride, dil, conv.groups, None
            )
        elif mode == "gemm":
            if conv.groups != 1 or any(conv.output_padding) or conv.dilation != (1, 1):
                raise ValueError("the matrix-product form takes plain transposed convolutions only")
            self.weight = weight.reshape(weight.shape[0], -1).contiguous()  # (in, out * kh * kw)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        pad, out_pad, stride, dil = self.args
        if self.mode == "packed":
            op = torch.ops.mkldnn._convolution_transpose_pointwise
            return op(x, self.weight, self.bias, pad, out_pad, stride, dil, self.groups, self.act, [], "")
        if self.mode == "gemm":
            n, c, h, w = x.shape
            (kh, kw), (sh, sw), (ph, pw) = self.kernel, stride, pad
            cols = torch.mm(x.permute(0, 2, 3, 1).reshape(n * h * w, c), self.weight)
            full = ((h - 1) * sh + kh, (w - 1) * sw + kw)
            y = F.fold(cols.view(n, h * w, -1).transpose(1, 2), full, (kh, kw), stride=(sh, sw))
            y = y[:, :, ph : full[0] - ph, pw : full[1] - pw] + self.bias.view(1, -1, 1, 1)
        else:
            y = F.conv_transpose2d(x, self.weight, self.bias, stride, pad, out_pad, self.groups, dil)
        return torch.relu_(y) if self.act == "relu" else torch.tanh_(y)


def _mode(conv: nn.ConvTranspose2d, side: int, packed: bool) -> str:
    """How to run a layer whose input maps are ``side`` px: oneDNN's packed fused call where it is efficient;
    one matrix product and col2im for a 4 px input or an RGB output, where oneDNN reaches 105 and 28 GFLOP/s
    and the matrix product 122 and 50 on this CPU (8 samples, one thread)."""
    if side <= 4 or conv.out_channels <= 3:
        return "gemm"
    return "packed" if packed else "plain"


class DCGANInference:
    """A DCGAN generator for inference, the same function in fewer passes: each batch norm folded into the
    transposed convolution before it (``w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``),
    the first layer (from a 1x1 map) as one matrix product, and the later layers each run the quickest way
    (:func:`_mode`): on a CPU with oneDNN one call with the activation fused and the weights packed once
    (``packed_fusion_available``; unpacked they were reordered on every call). Built from a loaded
    :class:`DCGANGenerator`; float32."""

    def __init__(self, net: DCGANGenerator, packed: bool | None = None) -> None:
        convs = [m for m in net.main if isinstance(m, nn.ConvTranspose2d)]
        norms = [m for m in net.main if isinstance(m, nn.BatchNorm2d)]
        if len(norms) != len(convs) - 1:
            raise ValueError("expected a batch norm after every transposed convolution but the last")
        packed = packed_fusion_available() if packed is None else packed
        folded = []
        with torch.no_grad():
            for i, conv in enumerate(convs):
                w = conv.weight.float().contiguous()
                b = conv.bias.float() if conv.bias is not None else w.new_zeros(conv.out_channels)
                if i < len(norms):
                    bn = norms[i]
                    g = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
                    w, b = w * g.view(1, -1, 1, 1), (b - bn.running_mean.float()) * g + bn.bias.float()
                folded.append((w, b, conv))
        w, b, first = folded[0]
        self.z_dim, self.width, self.side = net.z_dim, first.out_channels, first.kernel_size
        self.first_weight = w.flatten(1)  # (z_dim, C * k * k)
        self.first_bias = b.repeat_interleave(first.kernel_size[0] * first.kernel_size[1])
        last = len(folded) - 1
        self.layers = [
            # the first layer makes kernel-size maps; each later one doubles them
            _Layer(w, b, conv, "tanh" if i == last else "relu", _mode(conv, self.side[0] * 2 ** (i - 1), packed))
            for i, (w, b, conv) in enumerate(folded[1:], start=1)
        ]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.addmm(self.first_bias, z.float(), self.first_weight).relu_()
        x = x.view(z.shape[0], self.width, *self.side).contiguous(memory_format=torch.channels_last)
        for layer in self.layers:
            x = layer(x)
        return x


def build(params: dict) -> DCGANGenerator:
    """The generator of a spec's ``params`` (z_dim, channels, output_size)."""
    return DCGANGenerator(params["z_dim"], params["channels"], params["output_size"])
