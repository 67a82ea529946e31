"""Turn a spec into a loaded model: resolve weights, build the module, wrap it in an adapter.

``LOADERS`` maps a spec's ``arch`` (a loader family, not a model) to a function; a new family
registers itself with :func:`loader`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from models import weights
from models.adapters import (
    AutoInpainter,
    Generator,
    LoadedModel,
    ModuleInpainter,
    ModuleUpscaler,
    OpenCVInpainter,
    ResampleUpscaler,
)
from models.registry import ModelSpec, Task
from ops.errors import WeightsIntegrityError, WeightsUnavailableError

LoaderFn = Callable[[ModelSpec, torch.device, torch.dtype, "str | None"], LoadedModel]
LOADERS: dict[str, LoaderFn] = {}
log = logging.getLogger("ganvas")


def loader(name: str) -> Callable[[LoaderFn], LoaderFn]:
    """Register a loader family under ``name`` (a duplicate raises)."""

    def deco(fn: LoaderFn) -> LoaderFn:
        if name in LOADERS:
            raise ValueError(f"duplicate loader {name!r}")
        LOADERS[name] = fn
        return fn

    return deco


def load_model(
    spec: ModelSpec, device: torch.device, dtype: torch.dtype, alternative: str | None = None
) -> LoadedModel:
    """Load ``spec`` on ``device`` in ``dtype`` (weights fetched and verified first)."""
    _ensure_families()
    try:
        fn = LOADERS[spec.arch]
    except KeyError:
        raise ValueError(f"model {spec.id!r} names an unknown loader family {spec.arch!r}") from None
    return fn(spec, device, dtype, alternative)


def _ensure_families() -> None:
    # Families that live in their own modules register on import.
    import models.archs  # noqa: F401


@loader("resample")
def _load_resample(spec, device, dtype, alternative):
    return ResampleUpscaler(spec, torch.device("cpu"), torch.float32)


@loader("opencv-inpaint")
def _load_opencv(spec, device, dtype, alternative):
    if spec.params["method"] == "shiftmap":
        import cv2

        if not hasattr(cv2, "xphoto"):
            # the plain OpenCV build (another package's dependency) was installed over the contrib one
            raise WeightsUnavailableError(
                f"{spec.title} needs OpenCV's contrib build, but the plain one is installed: run "
                "pip install --force-reinstall --no-deps opencv-contrib-python-headless"
            )
    return OpenCVInpainter(spec, torch.device("cpu"), torch.float32)


@loader("inpaint-auto")
def _load_auto(spec, device, dtype, alternative):
    from models.registry import get_spec

    smooth = load_model(get_spec(spec.params["smooth"]), device, dtype)
    try:
        textured = load_model(get_spec(spec.params["textured"]), device, dtype)
    except WeightsUnavailableError as exc:  # e.g. OpenCV without its contrib modules: the network fills all
        log.warning("%s: %s; every hole goes to %s", spec.title, exc, smooth.spec.title)
        textured = None
    return AutoInpainter(spec, smooth, textured)


def spandrel_from_state_dict(state_dict: dict[str, torch.Tensor], name: str):
    """A spandrel descriptor for a state dict, or :class:`WeightsIntegrityError` if unknown."""
    from spandrel import ModelLoader, UnsupportedModelError

    try:
        return ModelLoader().load_from_state_dict(state_dict)
    except UnsupportedModelError as exc:
        raise WeightsIntegrityError(f"{name}: spandrel does not recognise this architecture.") from exc


@loader("spandrel")
def _load_spandrel(spec, device, dtype, alternative):
    path = weights.resolve(spec, alternative)
    if path.suffix == ".pt" and spec.params.get("torchscript"):
        from models.torchscript import lama_keys, state_dict_from_torchscript

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
    desc.eval().to(device)
    if dtype != torch.float32:
        desc.to(dtype)
    adapter = ModuleInpainter if spec.task == Task.INPAINT else ModuleUpscaler
    return adapter(spec, device, dtype, desc)


__all__ = ["LOADERS", "Generator", "load_model", "loader", "spandrel_from_state_dict"]
