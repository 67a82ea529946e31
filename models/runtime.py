"""Device and dtype choice, and the thread-safe LRU cache of loaded models."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from models.registry import ModelSpec, Registry, default_registry
from ops.errors import InvalidInputError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA, then MPS, then CPU; ``GANVAS_DEVICE`` (or ``preferred``) overrides."""
    name = (preferred or os.environ.get("GANVAS_DEVICE", "")).strip().lower()
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidInputError(f"Device {name!r} was asked for, but no CUDA GPU is available here.")
        if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InvalidInputError("Device 'mps' was asked for, but Apple's MPS is not available here.")
        try:
            return torch.device(name)
        except RuntimeError as exc:
            raise InvalidInputError(f"Unknown device {name!r} (use cpu, cuda, cuda:N or mps).") from exc
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(spec: ModelSpec, device: torch.device, preferred: str | None = None) -> torch.dtype:
    """float16/bfloat16 on GPUs where the model supports it, float32 otherwise.

    ``GANVAS_DTYPE`` (float32, float16, bfloat16) overrides, but never forces a precision the
    model does not support.
    """
    name = (preferred or os.environ.get("GANVAS_DTYPE", "")).strip().lower()
    if name and name not in _DTYPES:
        raise InvalidInputError(f"Unknown dtype {name!r} (use float32, float16 or bfloat16).")
    if name == "float16" and spec.supports_half:
        return torch.float16
    if name == "bfloat16" and spec.supports_bfloat16:
        return torch.bfloat16
    if name:
        return torch.float32
    if device.type == "cuda" and spec.supports_half:
        return torch.float16
    return torch.float32


Loader = Callable[[ModelSpec, torch.device, torch.dtype, "str | None"], object]


def _default_loader(spec: ModelSpec, device: torch.device, dtype: torch.dtype, alternative: str | None):
    from models.loaders import load_model

    return load_model(spec, device, dtype, alternative=alternative)


class ModelCache:
    """Loaded models keyed by (id, device, dtype): LRU, thread-safe, one load per key at a time.

    Create one in ``build_demo()`` (or the CLI) and pass it around; nothing here is global.
    """

    def __init__(
        self,
        registry: Registry | None = None,
        device: str | torch.device | None = None,
        max_models: int = 3,
        loader: Loader | None = None,
    ) -> None:
        self.registry = registry or default_registry()
        self.device = torch.device(device) if isinstance(device, str) else (device or pick_device())
        self.max_models = max(1, max_models)
        self._loader = loader or _default_loader
        self._models: OrderedDict[tuple[str, str, str], object] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str, str], threading.Lock] = {}

    def alternative_for(self, spec: ModelSpec) -> str | None:
        """The offline model named in 'cannot download' messages: the same network shipped another way (the
        id before its ``.hub``/``.offline`` suffix), else one of the same scale, preferring the task's default,
        else the default; ``None`` when the task has no offline model."""
        offline = [o for o in self.registry.list(spec.task) if o.id != spec.id and not o.needs_download]
        if not offline:
            return None
        default = self.registry.default_for(spec.task)
        family = spec.id.split(".")[0]

        def rank(o: ModelSpec) -> tuple[bool, bool, bool]:
            return (o.id.split(".")[0] != family, o.scale != spec.scale, default is None or o.id != default.id)

        return min(offline, key=rank).id  # ties keep the registry's order

    def alternative_label(self, spec: ModelSpec) -> str | None:
        """The offline model as messages name it: its title, which the app's model lists show, and its id for
        the CLI (the id alone meant nothing in the app)."""
        alt = self.alternative_for(spec)
        return None if alt is None else f"{self.registry.get(alt).title} instead (in the CLI: --model {alt})"

    def get(self, model_id: str, dtype: torch.dtype | None = None):
        """The loaded model for this id on the cache's device, loading it on first use."""
        spec = self.registry.get(model_id)
        dt = dtype or pick_dtype(spec, self.device)
        key = (spec.id, str(self.device), str(dt))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            model = self._loader(spec, self.device, dt, self.alternative_label(spec))
            with self._lock:
                self._models[key] = model
                self._models.move_to_end(key)
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            return model

    def loaded(self) -> list[tuple[str, str, str]]:
        """Keys of the models in memory, least recently used first."""
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
