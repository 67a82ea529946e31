"""Uniform wrappers around every loaded model, whatever its origin (spandrel, ours, classical).

All take and return float32 CPU tensors in [0, 1] in the internal convention; moving to the
model's device and dtype happens here, once, so ops never care where a model runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from core.imaging import resample
from models.archs.mobile_sam import TinyViT, TinyViTInference
from models.registry import ModelSpec


@dataclass
class LoadedModel(ABC):
    """Base: the spec, where it runs, and the module (None for classical methods)."""

    spec: ModelSpec
    device: torch.device
    dtype: torch.dtype
    module: torch.nn.Module | None = None

    def __post_init__(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Subclasses prepare their network here (the dataclass __init__ calls it only if the base defines it)."""

    def param_count(self) -> int:
        """Parameters of the network (0 for classical methods); sees through spandrel descriptors."""
        net = getattr(self.module, "model", self.module)
        return sum(p.numel() for p in net.parameters()) if isinstance(net, torch.nn.Module) else 0

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, self.dtype)

    def _from_model(self, y: torch.Tensor) -> torch.Tensor:
        return y.float().clamp(0, 1).cpu()


class Upscaler(LoadedModel):
    """(N,3,H,W) -> (N,3,H*scale,W*scale). ``scale == 0`` means a resampler of any factor."""

    @property
    def scale(self) -> int:
        return self.spec.scale

    @abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run at the native scale."""

    def resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Any-factor resize; for learned models it is only used for the final exact step."""
        return resample(x, size, "bicubic")


class ResampleUpscaler(Upscaler):
    """A classical filter as an upscaling 'model'."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return resample(x, size, self.spec.params["filter"])


class ModuleUpscaler(Upscaler):
    """A network (spandrel descriptor or our own nn.Module) at its native scale, run channels-last: oneDNN's
    convolutions then skip a layout reorder at every layer (fp32 within one 8-bit level, 1.2-1.7x faster on
    this CPU; bfloat16 needs it to be fast at all, bench/results/precision.md)."""

    def __post_init__(self) -> None:
        net = getattr(self.module, "model", self.module)  # spandrel's descriptor holds the nn.Module
        if isinstance(net, torch.nn.Module):
            net.to(memory_format=torch.channels_last)  # in place: the 4-D weights change layout, nothing else

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(self._to_model(x).contiguous(memory_format=torch.channels_last))
        # the network's output is a new tensor: laid out plainly (a copy from channels-last) and clamped in place
        return y.float().cpu().contiguous().clamp_(0, 1)


class Inpainter(LoadedModel):
    """image (1,3,H,W), mask (1,1,H,W) with 1 = fill -> (1,3,H,W)."""

    @abstractmethod
    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill the masked pixels."""


def surroundings_texture(rgb: torch.Tensor, hole: torch.Tensor, ring: int = 15) -> float:
    """Mean gradient magnitude (Sobel on 8-bit gray) in a ``ring``-pixel band around the hole: about 10 for sky
    or a wall, above 50 for foliage, brick or grass. ``rgb`` (1,3,H,W) in [0,1], ``hole`` (1,1,H,W), >0.5 = hole."""
    import cv2
    import numpy as np

    gray = (rgb[0].float().mean(dim=0).clamp(0, 1).numpy() * 255).astype(np.float32)
    inside = (hole[0, 0] > 0.5).numpy().astype(np.uint8)
    band = cv2.dilate(inside, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)).astype(bool) & ~inside.astype(bool)
    if not band.any():
        return 0.0
    mag = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    return float(mag[band].mean())


class AutoInpainter(Inpainter):
    """Picks a fill per region by what surrounds it: a patch-based one (shift-map) where the surroundings are
    textured, so foliage, brick and grass stay sharp, the network elsewhere (smooth surroundings, where it
    fills best, and regions too large for the patch search to be quick)."""

    def __init__(self, spec, smooth: Inpainter, textured: Inpainter | None) -> None:
        super().__init__(spec, smooth.device, smooth.dtype, smooth.module)
        self.smooth, self.textured = smooth, textured
        self.last_choice = ""  # which fill the last call used, for reports and tests

    def param_count(self) -> int:
        return self.smooth.param_count()

    def choose(self, image: torch.Tensor, mask: torch.Tensor) -> Inpainter:
        p = self.spec.params
        if self.textured is None or image.shape[-2] * image.shape[-1] > p["max_textured_pixels"]:
            return self.smooth
        return self.textured if surroundings_texture(image, mask) > p["threshold"] else self.smooth

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        model = self.choose(image, mask)
        self.last_choice = model.spec.id
        return model(image, mask)


class OpenCVInpainter(Inpainter):
    """OpenCV's classical fills: Telea or Navier-Stokes (``cv2.inpaint``, radius from the spec), or the
    patch-based shift-map of ``cv2.xphoto`` (opencv-contrib), which copies texture from the rest of the image."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        import cv2
        import numpy as np

        method = self.spec.params["method"]
        rgb = np.ascontiguousarray((image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))
        hole = mask[0, 0].numpy() > 0.5
        if not hole.any():  # nothing to fill (xphoto's shift-map crashes the process on an empty hole)
            return image.clone()
        if method == "shiftmap":
            out = np.zeros_like(rgb)
            # xphoto's mask marks the pixels to keep (non-zero), not the hole
            cv2.xphoto.inpaint(rgb, (~hole).astype(np.uint8), out, cv2.xphoto.INPAINT_SHIFTMAP)
        else:
            flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
            radius = float(self.spec.params.get("radius", 5))
            out = cv2.inpaint(rgb, hole.astype(np.uint8) * 255, radius, flag)
        return torch.from_numpy(out.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


class ModuleInpainter(Inpainter):
    """A masked-image network (spandrel's MaskedImageModelDescriptor or ours)."""

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.module(self._to_model(image), self._to_model((mask > 0.5).float()))
        return self._from_model(y)


#: A box in image pixels: (x, y, width, height).
Box = tuple[int, int, int, int]


class Matter(LoadedModel):
    """image (1,3,H,W) in [0,1], optional ``box`` around the object -> alpha matte (1,1,H,W) in [0,1]. A
    promptable matter also takes ``points`` on the object (a keyword; :attr:`takes_points`)."""

    takes_points = False

    @abstractmethod
    def __call__(self, image: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        """The foreground's alpha; 1 = foreground."""


class SaliencyMatter(Matter):
    """A salient-object network (U²-Net, BiRefNet) at a fixed input size: the image resized to a square of
    ``params["size"]`` (a crop around a box) or ``params["size_automatic"]`` (a whole picture, where the object
    may be small and a larger input keeps it apart from the rest) and ImageNet-normalised, as each was trained.
    U²-Net (rembg's preprocessing) first divides by the brightest value and its fused map is stretched to
    [0, 1]; a network with ``params["logits"]`` (BiRefNet) sees the picture as it is and its logits pass
    through a sigmoid. The matte is resized back. The box is the caller's crop: the network sees only what it
    is given. With ``params["channels_last"]`` the network runs on channels-last maps (oneDNN's layout: U²-Net-p
    at 640 px runs 1.4x as fast on a CPU; BiRefNet's Swin encoder would run 6 % slower)."""

    def __post_init__(self) -> None:
        if self.spec.params.get("channels_last") and self.module is not None:
            self.module.to(memory_format=torch.channels_last)  # in place: the 4-D weights change layout

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        p = self.spec.params
        size = int(p["size"] if box is not None else p.get("size_automatic", p["size"]))
        logits = bool(p.get("logits", False))
        h, w = image.shape[-2:]
        x = resample(image.float(), (size, size), "bilinear" if logits else "bicubic")
        if not logits:
            x = x / x.amax().clamp_min(1e-6)
        mean = torch.tensor(p["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(p["std"]).view(1, 3, 1, 1)
        x = self._to_model((x - mean) / std)
        if p.get("channels_last"):
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.module(x)
        y = (y[0] if isinstance(y, tuple) else y).float().cpu()  # U²-Net gives (fused, *side maps)
        if logits:
            y = torch.sigmoid(y)
        else:
            lo, hi = y.amin(), y.amax()
            y = (y - lo) / (hi - lo).clamp_min(1e-6)
        return resample(y, (h, w), "bilinear").clamp(0, 1)


class GrabCutMatter(Matter):
    """OpenCV's GrabCut (Rother et al. 2004): colour models of the object and its surroundings refined by graph
    cuts, started from the box (without one, from the image less a margin of ``params["margin"]`` of its size).
    A hard mask: 0 or 1."""

    def __call__(self, image: torch.Tensor, box: Box | None = None) -> torch.Tensor:
        import cv2
        import numpy as np

        h, w = image.shape[-2:]
        if box is None:
            m = float(self.spec.params["margin"])
            box = (round(w * m), round(h * m), max(1, round(w * (1 - 2 * m))), max(1, round(h * (1 - 2 * m))))
        x, y, bw, bh = box
        out = torch.zeros(1, 1, h, w)
        if bw < 2 or bh < 2 or (x <= 0 and y <= 0 and x + bw >= w and y + bh >= h):
            out[..., max(0, y) : y + bh, max(0, x) : x + bw] = 1  # no surroundings to learn from: the box itself
            return out
        f = min(1.0, int(self.spec.params["max_side"]) / max(h, w))  # graph cuts grow with the pixel count
        if f < 1:
            small = (max(2, round(h * f)), max(2, round(w * f)))
            box = (round(x * f), round(y * f), max(2, round(bw * f)), max(2, round(bh * f)))
            return resample(self(resample(image, small, "area"), box), (h, w), "bilinear").clamp(0, 1)
        rgb = image[0].permute(1, 2, 0).clamp(0, 1).numpy()
        bgr = np.ascontiguousarray((rgb[..., ::-1] * 255 + 0.5).astype(np.uint8))
        mask = np.zeros((h, w), np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(bgr, mask, (x, y, bw, bh), bgd, fgd, int(self.spec.params["iterations"]), cv2.GC_INIT_WITH_RECT)
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        return torch.from_numpy(fg.astype(np.float32))[None, None]


@dataclass
class PromptMatter(Matter):
    """A promptable segmenter (MobileSAM) prompted with the box: the crop resized to ``params["input_size"]`` on
    its longer side, normalised with ``params["mean"]``/``["std"]`` on 0-255 and padded bottom-right to a square;
    the single-mask logits (or, when ``params["stability"]`` is set and that mask is less stable, the best of the
    multimask ones) scaled back to the crop, as SAM's postprocess does, then sigmoid (0.5 = SAM's mask threshold)
    and zero outside the box. On a CPU in float32 the image encoder runs as :class:`TinyViTInference` (the same
    function in fewer passes), elsewhere as loaded. Without a box, ``salient`` (a saliency matter) finds the
    subject: the bounding box of its largest region above 0.5 is the prompt, and an empty saliency matte is the
    answer."""

    salient: Matter | None = None
    takes_points = True

    def __post_init__(self) -> None:
        p = self.spec.params
        self.mean = torch.tensor(p["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(p["std"], dtype=torch.float32).view(1, 3, 1, 1)
        encoder = getattr(self.module, "image_encoder", None)  # None: a matter built without its network
        cpu = torch.device(self.device).type == "cpu" and self.dtype == torch.float32
        self.encoder = TinyViTInference(encoder) if cpu and isinstance(encoder, TinyViT) else encoder

    @torch.inference_mode()
    def logits(self, image: torch.Tensor, box: Box | None, points: torch.Tensor | None = None) -> torch.Tensor:
        """The mask logits (1,1,H,W) for ``box`` and/or foreground ``points`` ((N, 2) x, y in pixels) on
        ``image`` (1,3,H,W); > 0 = the object."""
        size = int(self.spec.params["input_size"])
        h, w = image.shape[-2:]
        scale = size / max(h, w)
        nh, nw = max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))
        x = (resample(image.float(), (nh, nw), "bilinear") * 255 - self.mean) / self.std
        x = torch.nn.functional.pad(x, (0, size - nw, 0, size - nh))
        corners = None
        if box is not None:
            bx, by, bw, bh = box
            corners = torch.tensor([[bx * nw / w, by * nh / h, (bx + bw) * nw / w, (by + bh) * nh / h]])
            corners = corners.to(self.device)
        embedding = self.encoder(self._to_model(x))
        if points is None:
            masks, iou = self.module.decode(embedding, corners)
            low = self.module.single(masks, iou, float(self.spec.params.get("stability", 0.0))).float().cpu()
        else:
            where = (points.float() * torch.tensor([nw / w, nh / h]))[None]
            low = self._covering(self.module.decode(embedding, corners, where.to(self.device)), where, corners)
        up = torch.nn.functional.interpolate(low, (size, size), mode="bilinear", align_corners=False)
        return torch.nn.functional.interpolate(up[..., :nh, :nw], (h, w), mode="bilinear", align_corners=False)

    @staticmethod
    def _covering(
        found: tuple[torch.Tensor, torch.Tensor], where: torch.Tensor, corners: torch.Tensor | None
    ) -> torch.Tensor:
        """Of SAM's four masks for points (and a box around them), one that holds the most of the points (they
        were all painted on the object: on a patterned object one point picks one patch of the pattern) and
        reaches fewer sides of the box (a box drawn around strokes is wider than the object: a mask out to two
        of its sides is the ground), the highest predicted IoU among those. ``where``: (1, N, 2) points and
        ``corners`` (1, 4) in input pixels; the masks are a quarter of that size."""
        masks, iou = found[0].float().cpu(), found[1].float().cpu()
        e = masks.shape[-1]
        ix = (where[0, :, 0] / 4).long().clamp(0, e - 1)
        iy = (where[0, :, 1] / 4).long().clamp(0, e - 1)
        inside = masks[0] > 0
        held = inside[:, iy, ix].float().mean(1)  # (4,) share of the points inside each mask
        sides = torch.zeros(masks.shape[1])
        if corners is not None:
            x0, y0, x1, y1 = (int(v) for v in (corners[0].cpu() / 4).clamp(0, e - 1).round())
            edges = (
                inside[:, y0 : y1 + 1, x0],
                inside[:, y0 : y1 + 1, x1],
                inside[:, y0, x0 : x1 + 1],
                inside[:, y1, x0 : x1 + 1],
            )
            sides = sum(edge.any(1).float() for edge in edges)
        score = held * 10 - (sides >= 2).float() * 5 + iou[0]  # coverage, then not the ground, then predicted IoU
        return masks[:, int(score.argmax())][:, None]

    def subject_box(self, image: torch.Tensor) -> tuple[Box | None, torch.Tensor]:
        """The box around the largest region of the salient matte above 0.5 (None when there is none), and that
        matte."""
        import cv2
        import numpy as np

        if self.salient is None:
            raise ValueError(f"{self.spec.id} has no salient model to find the subject without a box")
        matte = self.salient(image, None)
        mask = (matte[0, 0] > 0.5).numpy().astype(np.uint8)
        count, _labels, stats, _centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count < 2:
            return None, matte
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = (int(v) for v in stats[biggest, :4])
        return (x, y, w, h), matte

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor, box: Box | None = None, points: torch.Tensor | None = None) -> torch.Tensor:
        """With ``points`` on the object ((N, 2) x, y in pixels, as a selection's strokes give), the box and the
        points prompt together and the answer is a mask that holds all the points (see :meth:`_covering`): a box
        drawn loosely around strokes alone may outline the ground around the object instead."""
        if box is None and points is None:
            box, matte = self.subject_box(image)
            if box is None:
                return matte
        h, w = image.shape[-2:]
        x, y, bw, bh = box if box is not None else (0, 0, w, h)
        alpha = torch.sigmoid(self.logits(image, box, points))
        keep = torch.zeros_like(alpha)
        keep[..., max(0, y) : y + bh, max(0, x) : x + bw] = 1
        return alpha * keep


class Filter(LoadedModel):
    """An image-to-image restyling at the same size: image (1,3,H,W) in [0,1] -> (1,3,H,W) in [0,1].

    ``context`` (from :meth:`context`, measured on the whole image) is what a tile needs to look like part of
    that image; each tile of it is then filtered alike, so tiles join without a seam of tone."""

    @abstractmethod
    def context(self, image: torch.Tensor) -> object:
        """What the filter measures on the whole image."""

    @abstractmethod
    def __call__(self, x: torch.Tensor, context: object | None = None) -> torch.Tensor:
        """Filter ``x`` (the whole image, or a tile of the one ``context`` was measured on)."""


class CycleGanFilter(Filter):
    """A CycleGAN generator (inputs in [-1, 1]) as a filter. Its instance-norm statistics are the context,
    measured on the image area-downscaled to at most ``params["stats_pixels"]`` (the size it was trained at;
    a smaller image as it is). Inputs are padded, reflected, to what the network takes and cropped back."""

    @torch.inference_mode()
    def context(self, image: torch.Tensor) -> object:
        h, w = image.shape[-2:]
        f = min(1.0, (int(self.spec.params["stats_pixels"]) / (h * w)) ** 0.5)
        small = image if f >= 1 else resample(image.float(), (max(1, round(h * f)), max(1, round(w * f))), "area")
        return self.module.statistics(self._padded(small))

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, context: object | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self.module(self._padded(x), context)[..., :h, :w]
        return self._from_model((y + 1) / 2)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in [-1, 1] on the model's device, padded right and below to sides the network takes."""
        h, w = x.shape[-2:]
        multiple, least = self.spec.size_multiple, self.spec.min_size
        ph = max(least, h + (-h) % multiple) - h
        pw = max(least, w + (-w) % multiple) - w
        x = self._to_model(x) * 2 - 1
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        return x


class Generator(LoadedModel):
    """A (conditional) generator: seeds and labels in, RGBA (N,4,H,W) in [0,1] out.

    Sampling is split in two so the UI can interpolate: latents per seed, class vectors per
    label (rows may be mixes of two labels), then :meth:`synthesize`.
    """

    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    @abstractmethod
    def z_dim(self) -> int:
        """Length of one latent vector."""

    def sample_latents(self, seeds: list[int], truncation: float = 1.0) -> torch.Tensor:
        """(N, z_dim) latents, one reproducible draw per seed (CPU generator, so any device agrees).

        Values are drawn from a standard normal truncated to [-2, 2] and scaled by
        ``truncation`` (the truncation trick of BigGAN; 1.0 = plain truncated normal).
        """
        rows = []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            z = torch.randn(self.z_dim, generator=g)
            bad = z.abs() > 2
            while bool(bad.any()):
                z[bad] = torch.randn(int(bad.sum()), generator=g)
                bad = z.abs() > 2
            rows.append(z * float(truncation))
        return torch.stack(rows) if rows else torch.zeros(0, self.z_dim)

    def class_vectors(self, labels: list[int]) -> torch.Tensor:
        """(N, num_labels) one-hot rows (zeros for an unconditional model)."""
        n = max(1, len(self.labels))
        out = torch.zeros(len(labels), n)
        for i, lab in enumerate(labels):
            if self.labels:
                out[i, int(lab)] = 1.0
        return out

    @abstractmethod
    def synthesize(self, z: torch.Tensor, class_vectors: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Images for latents and class vectors: (N,4,H,W) RGBA float32 CPU in [0,1]."""

    def generate(self, seeds: list[int], labels: list[int] | None = None, truncation: float = 1.0) -> torch.Tensor:
        """One image per seed (label i goes with seed i; default label 0)."""
        labs = list(labels) if labels is not None else [0] * len(seeds)
        if len(labs) != len(seeds):
            raise ValueError("give one label per seed")
        return self.synthesize(self.sample_latents(seeds, truncation), self.class_vectors(labs), truncation)
