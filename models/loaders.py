"""Turn a spec into a loaded model: fetch and verify its weights, build its network, wrap it for the app.

``LOADERS`` maps ``ModelSpec.loader`` to a function. Every network is built by :func:`load_network` (ours) or
spandrel (theirs) from a verified state dict, strictly, and placed by :func:`_place` in the runtime's dtype.
Wrappers come from one table per kind: ``NETWORKS`` for ours, ``SPANDREL_ADAPTERS`` by task for spandrel's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import spandrel
import torch
from torch import nn

from core.errors import WeightsIntegrityError, WeightsUnavailableError
from models import weights
from models.adapters import (
    AutoInpainter,
    CycleGanFilter,
    GrabCutMatter,
    LoadedModel,
    ModuleInpainter,
    ModuleUpscaler,
    OpenCVInpainter,
    PromptMatter,
    ResampleUpscaler,
    SaliencyMatter,
)
from models.archs import (
    biggan_deep,
    birefnet,
    cyclegan,
    dcgan,
    emoji_gan,
    ganvas_inpaint,
    mobile_sam,
    span,
    u2net,
)
from models.catalog import get_spec
from models.devices import runnable_dtype
from models.generators import BigGanDeepGenerator, DcganGenerator, EmojiGanGenerator
from models.registry import ModelSpec, Task
from models.torchscript import lama_keys, state_dict_from_torchscript

#: Loads another registry entry by id (a combined model's part); the model cache passes its own ``get``.
Parts = Callable[[str], LoadedModel]
LoaderFn = Callable[[ModelSpec, torch.device, torch.dtype, "str | None", Parts], LoadedModel]
log = logging.getLogger("ganvas")

#: Our networks: loader name -> (build from ``spec.params``, the adapter that wraps the module).
NETWORKS: dict[str, tuple[Callable[[dict], nn.Module], type[LoadedModel]]] = {
    "ganvas-emoji-gan": (emoji_gan.build, EmojiGanGenerator),
    "biggan-deep": (biggan_deep.build, BigGanDeepGenerator),
    "dcgan": (dcgan.build, DcganGenerator),
    "cyclegan": (cyclegan.build, CycleGanFilter),
    "ganvas-inpaint": (ganvas_inpaint.build, ModuleInpainter),
    "u2net": (u2net.build, SaliencyMatter),
    "birefnet": (birefnet.build, SaliencyMatter),
    "mobile-sam": (mobile_sam.build, PromptMatter),
}

#: The wrapper of a spandrel network, by the task its spec names.
SPANDREL_ADAPTERS: dict[Task, type[LoadedModel]] = {Task.UPSCALE: ModuleUpscaler, Task.INPAINT: ModuleInpainter}


def _place(module: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """Inference mode on ``device`` in ``dtype``: the one place a loaded network is moved."""
    return module.eval().requires_grad_(False).to(device=device, dtype=dtype)


def load_network(spec: ModelSpec, build: Callable[[dict], nn.Module], state: dict[str, torch.Tensor]) -> nn.Module:
    """``build(spec.params)`` on the meta device (no random init: every tensor comes from ``state``), filled
    by a strict load; a state dict of another layout is a :class:`WeightsIntegrityError`."""
    with torch.device("meta"):
        module = build(spec.params)
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise WeightsIntegrityError(
            f"The weights file for {spec.title} does not have the layout of the network this model expects."
        ) from exc
    return module


def spandrel_from_state_dict(state_dict: dict[str, torch.Tensor], name: str):
    """A spandrel descriptor for a state dict; an unknown architecture or a layout that does not load is a
    :class:`WeightsIntegrityError`."""
    try:
        return spandrel.ModelLoader().load_from_state_dict(state_dict)
    except spandrel.UnsupportedModelError as exc:
        raise WeightsIntegrityError(f"{name}: spandrel does not recognise this architecture.") from exc
    except RuntimeError as exc:  # detected, but the tensors do not fit the detected network
        raise WeightsIntegrityError(f"{name}: the weights file does not fit the network spandrel detected.") from exc


def _load_own(spec, device, dtype, alternative, parts):
    build, adapter = NETWORKS[spec.loader]
    state = weights.load_state_dict(weights.resolve(spec, alternative))
    return adapter(spec, device, dtype, _place(load_network(spec, build, state), device, dtype))


class _FusedBranches(torch.nn.Module):
    """A block trained as parallel branches, run as the one convolution they add up to in inference."""

    def __init__(self, conv: torch.nn.Conv2d, leaky_relu: bool) -> None:
        super().__init__()
        self.conv = conv
        self.leaky_relu = leaky_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.nn.functional.leaky_relu(y, negative_slope=0.05) if self.leaky_relu else y


def fuse_branches(net: torch.nn.Module) -> int:
    """Fuse, once, the branch blocks of ``net`` that re-fuse themselves on every forward in eval mode (SPAN's
    Conv3XC in spandrel: known by ``update_params`` and ``eval_conv``); returns how many it replaced. Their
    output is unchanged (the same fused kernel), without the kernel arithmetic before each convolution, which
    cost SPAN x4 7.8 times its plain time on a 192 px input on this CPU."""
    blocks = [
        (parent, name, child)
        for parent in net.modules()
        for name, child in parent.named_children()
        if callable(getattr(child, "update_params", None))
        and isinstance(getattr(child, "eval_conv", None), torch.nn.Conv2d)
    ]
    for parent, name, child in blocks:
        with torch.no_grad():
            child.update_params()
        setattr(parent, name, _FusedBranches(child.eval_conv, bool(getattr(child, "has_relu", False))))
    return len(blocks)


def _load_spandrel(spec, device, dtype, alternative, parts):
    adapter = SPANDREL_ADAPTERS.get(spec.task)
    if adapter is None:
        raise ValueError(f"no spandrel adapter for the {spec.task.value} task (model {spec.id!r})")
    path = weights.resolve(spec, alternative)
    if path.suffix == ".pt" and spec.params.get("torchscript"):
        sd = state_dict_from_torchscript(path)
        if spec.task == Task.INPAINT:
            sd = lama_keys(sd)  # traced LaMa files root the generator at model.1 / generator.model.1
    else:
        sd = weights.load_state_dict(path)
    desc = spandrel_from_state_dict(sd, spec.title)
    if spec.task == Task.UPSCALE and desc.scale != spec.scale:
        raise WeightsIntegrityError(
            f"{spec.title}: the file is a x{desc.scale} model, the registry says x{spec.scale}."
        )
    fuse_branches(desc.model)
    if span.is_span(desc.model):
        # the same function in fewer passes over memory; SPAN takes any size, so the descriptor's padding is
        # not needed, and the adapter clamps
        net = span.SPANInference(desc.model)
        _place(net, device, dtype)
        return adapter(spec, device, dtype, net)
    _place(desc.model, device, dtype)
    return adapter(spec, device, dtype, desc)


def _load_prompted(spec, device, dtype, alternative, parts):
    """A promptable segmenter, with the salient model (a registry entry: ``params["salient"]``) that gives it a
    box when the user draws none."""
    model = _load_own(spec, device, dtype, alternative, parts)
    model.salient = parts(spec.params["salient"])
    return model


def _load_resample(spec, device, dtype, alternative, parts):
    return ResampleUpscaler(spec, torch.device("cpu"), torch.float32)


def _load_opencv(spec, device, dtype, alternative, parts):
    if spec.params["method"] == "shiftmap" and not hasattr(cv2, "xphoto"):
        # the plain OpenCV build (another package's dependency) was installed over the contrib one
        raise WeightsUnavailableError(
            f"{spec.title} needs OpenCV's contrib build, but the plain one is installed: run "
            "pip install --force-reinstall --no-deps opencv-contrib-python-headless"
        )
    return OpenCVInpainter(spec, torch.device("cpu"), torch.float32)


def _load_grabcut(spec, device, dtype, alternative, parts):
    return GrabCutMatter(spec, torch.device("cpu"), torch.float32)


def _load_auto(spec, device, dtype, alternative, parts):
    smooth = parts(spec.params["smooth"])
    try:
        textured = parts(spec.params["textured"])
    except WeightsUnavailableError as exc:  # e.g. OpenCV without its contrib modules: the network fills all
        log.warning("%s: %s; every hole goes to %s", spec.title, exc, smooth.spec.title)
        textured = None
    return AutoInpainter(spec, smooth, textured)


LOADERS: dict[str, LoaderFn] = {
    "resample": _load_resample,
    "opencv-inpaint": _load_opencv,
    "inpaint-auto": _load_auto,
    "grabcut": _load_grabcut,
    "spandrel": _load_spandrel,
    **dict.fromkeys(NETWORKS, _load_own),
    "mobile-sam": _load_prompted,
}


def _load_part(device: torch.device, dtype: torch.dtype) -> Parts:
    """Parts loaded directly (outside a cache), for callers that load one model by hand."""
    return lambda model_id: load_model(get_spec(model_id), device, dtype)


def load_model(
    spec: ModelSpec,
    device: torch.device,
    dtype: torch.dtype,
    alternative: str | None = None,
    parts: Parts | None = None,
) -> LoadedModel:
    """Load ``spec`` on ``device`` in ``dtype`` (float16 on the CPU runs as float32), weights fetched and
    verified first. A combined model gets its parts from ``parts`` (the model cache's ``get``)."""
    try:
        fn = LOADERS[spec.loader]
    except KeyError:
        raise ValueError(f"model {spec.id!r} names an unknown loader {spec.loader!r}") from None
    dtype = runnable_dtype(device, dtype)
    return fn(spec, device, dtype, alternative, parts or _load_part(device, dtype))
