"""The one image convention inside Ganvas.

Inside: float32 tensors (1, C, H, W) in [0, 1], RGB, alpha carried separately as (1, 1, H, W).
Bit depth, grayscale-ness, EXIF, the ICC profile, DPI and XMP travel with the pixels in
:class:`ImageData` so that nothing is silently dropped. Files and PIL live in ``ops.convert``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from core.errors import ImageTooLargeError, InvalidInputError

#: The working pixel limit when ``GANVAS_MAX_PIXELS`` is not set: every image Ganvas opens or makes (each step's
#: result, a placed layer, an upscale's output) stays within it, which bounds one request's peak memory
#: (``python -m bench.bench_memory`` prints each command's peak at this limit).
DEFAULT_MAX_PIXELS = 32_000_000


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
    """HxWxC array: uint8 or uint16; C = 1 for grayscale (+1 with alpha), else 3 (+1). Rounded half up and
    clipped, one plane at a time into the output (no float copy of the whole picture)."""
    depth = bit_depth or data.bit_depth
    maxval, dtype = (65535.0, np.uint16) if depth == 16 else (255.0, np.uint8)
    planes = [data.rgb[0, 0]] if data.grayscale else list(data.rgb[0])
    if keep_alpha and data.alpha is not None:
        planes.append(data.alpha[0, 0])
    out = np.empty((data.height, data.width, len(planes)), dtype=dtype)
    for i, plane in enumerate(planes):
        # clamp(v, 0, 1) * maxval + 0.5 == clamp(v * maxval + 0.5, 0.5, maxval + 0.5), then truncated
        scaled = plane.mul(maxval).add_(0.5).clamp_(0.5, maxval + 0.5)
        out[..., i] = scaled.to(torch.int32 if depth == 16 else torch.uint8).numpy()
    return out


def max_pixels() -> int:
    """The working pixel limit: ``GANVAS_MAX_PIXELS`` (read at each call, so a test or a server can set it), else
    :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get("GANVAS_MAX_PIXELS", "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):
        value = 0
    if value <= 0:
        raise InvalidInputError(
            f"GANVAS_MAX_PIXELS must be a positive number of pixels, such as 40000000 (got {raw[:40]!r})."
        )
    return value


def check_pixels(width: int, height: int, what: str = "The image", limit: int | None = None) -> None:
    """Refuse a ``width`` x ``height`` image before it is made or decoded: empty, or over the working limit.
    ``what`` names it in the sentence ("The rotated image", "holiday.png")."""
    limit = max_pixels() if limit is None else limit
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"{what} would be empty ({width}x{height}).")
    if width * height > limit:
        raise ImageTooLargeError(
            f"{what}: {width}x{height} ({_megapixels(width * height)}) is more than the {_megapixels(limit)} "
            "Ganvas works on here. Use a smaller image or size (whoever runs Ganvas can raise the limit with "
            "GANVAS_MAX_PIXELS, given the memory: about 100 bytes per pixel)."
        )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} MP"
