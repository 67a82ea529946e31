"""Ganvas emoji GAN: the small class-conditional SNGAN-style generator that ships.

The generator maps a latent z and a class vector (one-hot, or a mix of two for label
interpolation) to an RGBA sticker. It is trained at ``base_size`` (32 px, for the CPU); a small
learned 2x upsampler (trained separately on real emoji, ``upsampler_channels`` > 0) or a
premultiplied bicubic resize brings it to ``output_size`` (64 px) with clean edges. The discriminators
that train it are training code and live in ``training/``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from core import imaging

DEFAULT_CONFIG = {
    "z_dim": 64,
    "num_classes": 9,
    "embed_dim": 64,
    "channels": [128, 96, 64, 32],
    "base_size": 32,
    "output_size": 64,
}


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose gain and bias come from the conditioning vector (gain = 1 + linear(c))."""

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.gain.bias)
        nn.init.zeros_(self.bias.weight)
        nn.init.zeros_(self.bias.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        g = 1 + self.gain(c)[:, :, None, None]
        b = self.bias(c)[:, :, None, None]
        return self.bn(x) * g + b


class UpBlock(nn.Module):
    """Residual block that doubles the resolution (nearest upsample, two 3x3 convs, 1x1 skip)."""

    def __init__(self, cin: int, cout: int, cond_dim: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm(cin, cond_dim)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn2 = ConditionalBatchNorm(cout, cond_dim)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


def premultiply(rgba: torch.Tensor) -> torch.Tensor:
    """Straight RGBA -> premultiplied RGBA."""
    return imaging.premultiply(rgba[:, :3], rgba[:, 3:4])


def unpremultiply(pre: torch.Tensor) -> torch.Tensor:
    """Premultiplied RGBA -> straight RGBA; colour 0 where alpha is at most 1e-4 (too faint to divide by)."""
    return torch.cat(imaging.unpremultiply(pre.clamp(0, 1), threshold=1e-4), 1)


class StickerUpsampler(nn.Module):
    """2x upsampling of straight RGBA stickers: premultiplied bicubic plus a learned residual.

    A few 3x3 convolutions at the low resolution predict the 2x detail (pixel shuffle); the last
    layer starts at zero, so an untrained upsampler is exactly the premultiplied bicubic resize.
    """

    def __init__(self, channels: int = 32, blocks: int = 4) -> None:
        super().__init__()
        self.head = nn.Conv2d(4, channels, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(blocks))
        self.tail = nn.Conv2d(channels, 4 * 4, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward_premultiplied(self, rgba: torch.Tensor) -> torch.Tensor:
        """Straight RGBA (N,4,H,W) -> premultiplied RGBA (N,4,2H,2W), not clamped (for training losses)."""
        pre = premultiply(rgba)
        base = F.interpolate(pre, scale_factor=2, mode="bicubic", align_corners=False)
        h = F.leaky_relu(self.head(pre * 2 - 1), 0.2)
        for conv in self.body:
            h = h + F.leaky_relu(conv(h), 0.2)
        return base + F.pixel_shuffle(self.tail(h), 2)

    def forward(self, rgba: torch.Tensor) -> torch.Tensor:
        return unpremultiply(self.forward_premultiplied(rgba))


class EmojiGenerator(nn.Module):
    """(z, class vector[, subclass vector]) -> RGBA in [0, 1] at ``base_size``.

    With ``num_subclasses`` the condition is hierarchical: the class (Unicode group) embedding plus
    a subclass (Unicode subgroup) embedding. The subclass embedding starts at zero, so a class-only
    model's weights load into it unchanged and it behaves the same until trained on. ``sub_scale``
    multiplies that embedding: with Adam, whose steps do not grow with the gradient, it is the subclass
    embedding's learning rate relative to the rest (each subclass is in few samples of a batch). Buffers
    ``sub_group`` (each subclass's class) and ``sub_prior`` (its share of the training set) travel
    with the weights so the adapter can pick subclasses for a requested class.
    """

    def __init__(
        self,
        z_dim: int = 64,
        num_classes: int = 9,
        embed_dim: int = 64,
        channels: list[int] | tuple[int, ...] = (128, 96, 64, 32),
        base_size: int = 32,
        output_size: int = 64,
        num_subclasses: int = 0,
        sub_scale: float = 1.0,
        upsampler_channels: int = 0,
        upsampler_blocks: int = 4,
    ) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.base_size = z_dim, num_classes, base_size
        self.num_subclasses, self.sub_scale = num_subclasses, float(sub_scale)
        blocks = len(channels) - 1
        self.start = base_size // (2**blocks)
        self.embed = nn.Linear(num_classes, embed_dim, bias=False)  # a linear map so class mixes interpolate
        if num_subclasses:
            self.sub_embed = nn.Linear(num_subclasses, embed_dim, bias=False)
            nn.init.zeros_(self.sub_embed.weight)
            self.register_buffer("sub_group", torch.zeros(num_subclasses, dtype=torch.int64))
            self.register_buffer("sub_prior", torch.ones(num_subclasses))
        cond = z_dim + embed_dim
        self.fc = nn.Linear(cond, channels[0] * self.start * self.start)
        self.blocks = nn.ModuleList(UpBlock(channels[i], channels[i + 1], cond) for i in range(blocks))
        self.out_bn = nn.BatchNorm2d(channels[-1])
        self.out = nn.Conv2d(channels[-1], 4, 3, padding=1)
        # not trained with the GAN: added to the exported weights by ``train_gan --export --upsampler``
        self.upsampler = StickerUpsampler(upsampler_channels, upsampler_blocks) if upsampler_channels else None

    def subclass_vectors(self, class_vectors: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """(N, num_subclasses): for each class in a row, the subclass at quantile ``u`` of that class's prior.

        Linear in ``class_vectors``, so a mix of two classes mixes the two picked subclasses.
        """
        groups = F.one_hot(self.sub_group, self.num_classes).T.to(class_vectors.dtype)  # (C, S)
        prior = groups * self.sub_prior.to(class_vectors.dtype)
        cdf = prior.cumsum(1) / prior.sum(1, keepdim=True).clamp_min(1e-12)  # per class, over its subclasses
        # the first subclass of each class whose cdf reaches u (ties to later subclasses of other classes masked)
        reach = (cdf[None] >= u.to(cdf.dtype)[:, None, None].clamp(0, 1 - 1e-6)) & (groups[None] > 0)
        first = reach & (reach.cumsum(2) == 1)  # (N, C, S) one-hot per class
        return torch.einsum("nc,ncs->ns", class_vectors, first.to(class_vectors.dtype))

    def forward(
        self, z: torch.Tensor, class_vector: torch.Tensor, subclass_vector: torch.Tensor | None = None
    ) -> torch.Tensor:
        e = self.embed(class_vector)
        if self.num_subclasses:
            if subclass_vector is None:
                raise ValueError("this generator is conditioned on subclasses: pass subclass_vector")
            e = e + self.sub_scale * self.sub_embed(subclass_vector)
        return self.draw(z, e)

    def draw(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """RGBA at ``base_size`` from a latent and an embedded condition (class plus subclass embedding)."""
        c = torch.cat([z, e], dim=1)
        h = self.fc(c).view(z.shape[0], -1, self.start, self.start)
        for block in self.blocks:
            h = block(h, c)
        return (torch.tanh(self.out(F.relu(self.out_bn(h)))) + 1) / 2


def to_size(rgba: torch.Tensor, size: int) -> torch.Tensor:
    """Resize RGBA with premultiplied alpha (no dark fringes), bicubic up / area down."""
    if rgba.shape[-1] == size:
        return rgba
    mode = "bicubic" if size > rgba.shape[-1] else "area"
    kw = {"align_corners": False} if mode == "bicubic" else {}
    return unpremultiply(F.interpolate(premultiply(rgba), size=(size, size), mode=mode, **kw))


def subclass_quantile(z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
    """A uniform number per latent from its first coordinate: which subclass a seed draws.

    ``Generator.sample_latents`` draws a normal truncated to [-2, 2] and scales it by the
    truncation, so that distribution's CDF makes the number uniform in [0, 1) for every truncation,
    and nearby latents (variations, interpolation) mostly keep their subclass.
    """
    x = (z[:, 0].float() / max(float(truncation), 1e-6)).clamp(-2, 2)
    normal = torch.distributions.Normal(0.0, 1.0)
    lo, hi = normal.cdf(torch.tensor(-2.0)), normal.cdf(torch.tensor(2.0))
    return ((normal.cdf(x) - lo) / (hi - lo)).clamp(0, 1 - 1e-6)


def build(params: dict) -> EmojiGenerator:
    """The generator for a spec's ``params`` (its constructor's arguments)."""
    return EmojiGenerator(**params)
