"""The generator adapters of our own networks: seeds and labels in, RGBA stickers or photos out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import InvalidInputError
from models.adapters import Generator
from models.archs.dcgan import DCGANInference
from models.archs.emoji_gan import subclass_quantile, to_size

#: Samples per forward pass inside :meth:`BigGanDeepGenerator.synthesize` (bounds peak memory).
SYNTH_CHUNK = 8


class EmojiGanGenerator(Generator):
    """The adapter the app uses: seeds/labels in, 64x64 RGBA stickers out."""

    @property
    def z_dim(self) -> int:
        return self.module.z_dim

    @torch.inference_mode()
    def synthesize(self, z: torch.Tensor, class_vectors: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        z = z.to(self.device, self.dtype)
        cv = class_vectors.to(self.device, self.dtype)
        m = self.module
        if not m.num_subclasses:
            out = m(z, cv)
        else:
            # labels are the classes, then (optionally) the subclasses: a class draws one of its subclasses
            # per seed, a subclass label fixes it (and its class)
            classes, subs = cv[:, : m.num_classes], cv[:, m.num_classes :]
            picked = m.subclass_vectors(classes, subclass_quantile(z, truncation))
            if subs.shape[1]:
                classes = classes + subs @ F.one_hot(m.sub_group, m.num_classes).to(cv.dtype)
                picked = picked + subs
            out = m(z, classes, picked)
        size = self.spec.output_size or out.shape[-1]
        if m.upsampler is not None and size >= 2 * out.shape[-1]:
            out = m.upsampler(out)
        return to_size(out.float().cpu(), size)


class BigGanDeepGenerator(Generator):
    """Adapter: latents and class vectors in, RGBA (N,4,S,S) float32 CPU in [0,1] out (alpha 1)."""

    @property
    def z_dim(self) -> int:
        return self.module.z_dim

    @torch.inference_mode()
    def synthesize(self, z: torch.Tensor, class_vectors: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Images for latents (N, z_dim) and class vectors (N, num_classes) at ``truncation`` in (0, 1]."""
        t = float(truncation)
        if not 0.0 < t <= 1.0:
            raise InvalidInputError("Truncation must be above 0 and at most 1.")
        n_classes = self.module.num_classes
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise InvalidInputError(f"Latents must have {self.z_dim} values each.")
        if class_vectors.shape != (z.shape[0], n_classes):
            raise InvalidInputError(f"Give one class vector of {n_classes} values per latent.")
        size = self.module.output_dim
        if z.shape[0] == 0:
            return torch.zeros(0, 4, size, size)
        outs = []
        for zc, cc in zip(z.split(SYNTH_CHUNK), class_vectors.split(SYNTH_CHUNK), strict=True):
            y = self.module(self._to_model(zc), self._to_model(cc), t)
            outs.append(self._from_model((y.float() + 1) / 2))
        rgb = torch.cat(outs)
        return torch.cat((rgb, torch.ones_like(rgb[:, :1])), dim=1)


class DcganGenerator(Generator):
    """Adapter of an unconditional DCGAN: latents in (class vectors ignored), RGBA (N,4,S,S) in [0,1] out, alpha 1.
    On a CPU in float32 it runs :class:`DCGANInference` (batch norms folded, oneDNN's fused layers where
    available); elsewhere the network itself."""

    def __post_init__(self) -> None:
        cpu = torch.device(self.device).type == "cpu" and self.dtype == torch.float32
        self.runner = DCGANInference(self.module) if cpu else self.module

    @property
    def z_dim(self) -> int:
        return self.module.z_dim

    @torch.inference_mode()
    def synthesize(self, z: torch.Tensor, class_vectors: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Images for latents (N, z_dim); ``truncation`` already scaled the latents (see ``sample_latents``)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise InvalidInputError(f"Latents must have {self.z_dim} values each.")
        rgb = self._from_model((self.runner(self._to_model(z)).float() + 1) / 2)
        return torch.cat((rgb, torch.ones_like(rgb[:, :1])), dim=1)
