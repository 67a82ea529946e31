"""The emoji GAN's pixel discriminator (training only; nothing of it ships).

A spectral-normalised projection discriminator (Miyato & Koyama 2018) on RGBA in [-1, 1], with an optional
subclass projection and class head. The one in frozen EfficientNet-Lite1 features is in ``projected.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class DownBlock(nn.Module):
    """Spectral-normalised residual block that halves the resolution."""

    def __init__(self, cin: int, cout: int, first: bool = False) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        self.first = first
        self.conv1 = sn(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv2 = sn(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = sn(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + F.avg_pool2d(self.skip(x), 2)


class EmojiDiscriminator(nn.Module):
    """Projection discriminator (Miyato & Koyama 2018) on RGBA in [-1, 1]."""

    def __init__(
        self,
        num_classes: int = 9,
        channels: tuple[int, ...] = (32, 64, 96, 128),
        num_subclasses: int = 0,
        aux_classifier: bool = False,
    ) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        chans = (4, *channels)
        self.blocks = nn.Sequential(*(DownBlock(chans[i], chans[i + 1], first=i == 0) for i in range(len(channels))))
        self.linear = sn(nn.Linear(channels[-1], 1))
        self.embed = sn(nn.Embedding(num_classes, channels[-1]))
        self.num_subclasses = num_subclasses
        if num_subclasses:
            # a second projection for the subclass, faded in by a gate that starts at zero (a class-only
            # discriminator's weights load unchanged and it scores exactly as before)
            self.sub_embed = sn(nn.Embedding(num_subclasses, channels[-1]))
            self.sub_gate = nn.Parameter(torch.zeros(()))
        self.aux_classifier = aux_classifier
        if aux_classifier:
            # an AC-GAN style class head on the same features (Odena et al. 2017), used in training only:
            # zero at first, so a discriminator without it loads unchanged and it starts at chance
            self.classifier = nn.Linear(channels[-1], num_classes)
            nn.init.zeros_(self.classifier.weight)
            nn.init.zeros_(self.classifier.bias)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor, sublabels: torch.Tensor | None = None, with_logits: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Realism score per image; with ``with_logits`` also the class logits of the auxiliary head."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        out = self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(1)
        if self.num_subclasses:
            out = out + self.sub_gate * (self.sub_embed(sublabels) * h).sum(1)
        if not with_logits:
            return out
        if not self.aux_classifier:
            raise ValueError("this discriminator has no auxiliary classifier")
        return out, self.classifier(h)
