"""The one image convention inside Ganvas.

Inside: float32 tensors (1, C, H, W) in [0, 1], RGB, alpha carried separately as (1, 1, H, W).
Bit depth, grayscale-ness, EXIF, the ICC profile, DPI and XMP travel with the pixels in
:class:`ImageData` so that nothing is silently dropped. Files and PIL live in ``ops.convert``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from core.errors import InvalidInputError

#: Largest image (in pixels) Ganvas opens; bigger files are refused before decoding.
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class ImageData:
    """Pixels in the internal convention plus the metadata needed to write them back."""

    rgb: torch.Tensor  # (1, 3, H, W) float32 in [0, 1]
    alpha: torch.Tensor | None = None  # (1, 1, H, W) float32 in [0, 1], None when opaque
    bit_depth: int = 8
    grayscale: bool = False
    exif: bytes | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None  # print resolution, as the file gave it
    xmp: bytes | None = None  # the XMP packet (captions, ratings, rights) of a JPEG, PNG or WebP

    def __post_init__(self) -> None:
        if self.rgb.ndim != 4 or self.rgb.shape[:2] != (1, 3):
            raise ValueError(f"rgb must be (1,3,H,W), got {tuple(self.rgb.shape)}")
        if self.alpha is not None and self.alpha.shape != (1, 1, *self.rgb.shape[2:]):
            raise ValueError(f"alpha must be (1,1,H,W), got {tuple(self.alpha.shape)}")

    @property
    def width(self) -> int:
        return int(self.rgb.shape[-1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[-2])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL reports it."""
        return self.width, self.height

    def with_pixels(self, rgb: torch.Tensor, alpha: torch.Tensor | None | str = "keep") -> ImageData:
        """Same metadata, new pixels; ``alpha="keep"`` keeps the current alpha (sizes must match)."""
        new_alpha = self.alpha if isinstance(alpha, str) else alpha
        return replace(
            self, rgb=rgb.clamp(0, 1).float(), alpha=None if new_alpha is None else new_alpha.clamp(0, 1).float()
        )

    def rgba(self) -> torch.Tensor:
        """(1, 4, H, W) with an all-ones alpha when the image is opaque."""
        a = self.alpha if self.alpha is not None else torch.ones_like(self.rgb[:, :1])
        return torch.cat([self.rgb, a], dim=1)


def from_numpy(arr: np.ndarray) -> ImageData:
    """HxW, HxWx1, HxWx3 or HxWx4 array (uint8, uint16 or float in [0,1]) to ImageData."""
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InvalidInputError(f"Unsupported image array shape {a.shape}.")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise InvalidInputError("The image is empty (zero width or height).")
    if a.dtype == np.uint8:
        depth, f = 8, a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        depth, f = 16, a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        depth, f = 8, np.clip(a.astype(np.float32), 0, 1)
    elif a.dtype == np.bool_:
        depth, f = 8, a.astype(np.float32)
    else:
        raise InvalidInputError(f"Unsupported image array type {a.dtype}.")
    if f.ndim == 2:
        g = torch.from_numpy(np.ascontiguousarray(f))[None, None]
        return ImageData(g.expand(1, 3, -1, -1).contiguous(), None, depth, True)
    t = torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None].contiguous()
    alpha = t[:, 3:4].contiguous() if f.shape[2] == 4 else None
    return ImageData(t[:, :3].contiguous(), alpha, depth, False)


def to_numpy(data: ImageData, bit_depth: int | None = None, keep_alpha: bool = True) -> np.ndarray:
    """HxWxC array: uint8 or uint16; C = 1 for grayscale (+1 with alpha), else 3 (+1)."""
    depth = bit_depth or data.bit_depth
    maxval, dtype = (65535.0, np.uint16) if depth == 16 else (255.0, np.uint8)
    chans = [data.rgb[:, :1]] if data.grayscale else [data.rgb]
    if keep_alpha and data.alpha is not None:
        chans.append(data.alpha)
    t = torch.cat(chans, dim=1)[0].permute(1, 2, 0).clamp(0, 1)
    return (t.numpy() * maxval + 0.5).astype(dtype)
