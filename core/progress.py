"""The progress callbacks long operations take."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]
"""``progress(fraction in [0, 1], what is happening)``: reported by long image operations."""

DownloadProgress = Callable[[int, "int | None", str], None]
"""``progress(bytes received so far, total bytes or None when unknown, what is downloading)``: reported while a
weights file downloads."""
