"""CycleGAN's ResNet generator (Zhu et al. 2017, after Johnson et al.): c7s1-64, d128, d256, residual blocks at a
quarter of the resolution, u128, u64, c7s1-3, with instance norm, reflection padding and a tanh output.

The module layout (``model.N`` in a Sequential, ``model.N.block.M`` inside a residual block) is the one the
released state dicts use. Instance norm takes its statistics from the image it normalises, so a tile alone
would be normalised differently from the whole picture: :meth:`CycleGanGenerator.statistics` measures every
norm layer's per-channel mean and variance on one image, and ``forward(x, stats)`` normalises with those
instead, which is how the filter runs tile by tile with the look of the whole image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

#: (mean, biased variance) per channel of one instance-norm layer, each of shape (C,).
Stats = list[tuple[torch.Tensor, torch.Tensor]]
#: How a norm layer is applied: (layer, input) -> output.
NormFn = Callable[[nn.InstanceNorm2d, torch.Tensor], torch.Tensor]
#: Input sides the network needs: two stride-2 convolutions (a multiple of 4), and reflection padding of 1 at a
#: quarter of the resolution (at least 2 there).
SIZE_MULTIPLE = 4
MIN_SIZE = 8


class ResidualBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3),
            nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x: torch.Tensor, norm: NormFn | None = None) -> torch.Tensor:
        return x + _run(self.block, x, norm or _plain)


def _plain(layer: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
    return layer(x)


def _run(layers: nn.Sequential, x: torch.Tensor, norm: NormFn) -> torch.Tensor:
    for layer in layers:
        if isinstance(layer, nn.InstanceNorm2d):
            x = norm(layer, x)
        elif isinstance(layer, ResidualBlock):
            x = layer(x, norm)
        else:
            x = layer(x)
    return x


class CycleGanGenerator(nn.Module):
    """(N,3,H,W) in [-1, 1] -> (N,3,H',W') in [-1, 1], H' and W' the input's rounded up to a multiple of 4."""

    def __init__(self, channels: int = 64, blocks: int = 9, in_channels: int = 3, out_channels: int = 3) -> None:
        super().__init__()
        c = channels
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, c, 7),
            nn.InstanceNorm2d(c, affine=True),
            nn.ReLU(),
        ]
        for mult in (1, 2):  # d128, d256
            layers += [
                nn.Conv2d(c * mult, c * mult * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(c * mult * 2, affine=True),
                nn.ReLU(),
            ]
        layers += [ResidualBlock(4 * c) for _ in range(blocks)]
        for mult in (4, 2):  # u128, u64
            layers += [
                nn.ConvTranspose2d(c * mult, c * mult // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(c * mult // 2, affine=True),
                nn.ReLU(),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, stats: Stats | None = None) -> torch.Tensor:
        """The translated image; with ``stats`` (from :meth:`statistics`) every norm layer uses those."""
        if stats is None:
            return _run(self.model, x, _plain)
        return _run(self.model, x, _frozen(iter(stats)))

    def statistics(self, x: torch.Tensor) -> Stats:
        """Every norm layer's per-channel (mean, variance) on the one image ``x`` (1,3,H,W), in order."""
        if x.shape[0] != 1:
            raise ValueError("statistics are measured on one image")
        stats: Stats = []

        def record(layer: nn.InstanceNorm2d, h: torch.Tensor) -> torch.Tensor:
            var, mean = torch.var_mean(h.float(), dim=(0, 2, 3), correction=0)
            stats.append((mean, var))
            return layer(h)

        _run(self.model, x, record)
        return stats


def _frozen(stats: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> NormFn:
    def norm(layer: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        mean, var = next(stats)
        return F.batch_norm(
            x, mean.to(x.dtype), var.to(x.dtype), layer.weight, layer.bias, training=False, eps=layer.eps
        )

    return norm


def build(params: dict) -> CycleGanGenerator:
    """The generator a spec's ``params`` describe (``channels``, ``blocks``)."""
    return CycleGanGenerator(channels=int(params.get("channels", 64)), blocks=int(params.get("blocks", 9)))
