"""The progress callback long operations take: ``progress(fraction in [0, 1], what is happening)``."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]
