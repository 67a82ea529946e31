"""Gradio's progress bar as the progress callbacks that long ops and downloads take."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.progress import DownloadProgress, Progress


def reporter(progress: Callable | None) -> Progress:
    """An ops progress callback that moves ``progress`` (a gr.Progress; None: reports go nowhere)."""

    def report(fraction: float, desc: str) -> None:
        if progress is not None:
            progress(fraction, desc=desc)

    return report


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def transfer_text(what: str, done: int, total: int | None, seconds: float) -> str:
    """The bar's words for a download: "Downloading LaMa big: 52.1 of 205.7 MB at 12.3 MB/s"."""
    size = f"{_mb(done)} of {_mb(total)}" if total else _mb(done)
    speed = f" at {_mb(done / seconds)}/s" if seconds > 0.2 and done else ""
    return f"Downloading {what}: {size}{speed}"


def download_reporter(progress: Callable | None, clock: Callable[[], float] = time.monotonic) -> DownloadProgress:
    """A download callback that moves ``progress`` (a gr.Progress) with the size and the speed in its words; the
    speed counts from the first report. None: reports go nowhere."""
    start: list[float] = []

    def report(done: int, total: int | None, what: str) -> None:
        if progress is None:
            return
        if not start:
            start.append(clock())
        # a fraction where the size is known; else a count (None would hide the bar)
        amount = min(1.0, done / total) if total else (done, None)
        progress(amount, desc=transfer_text(what, done, total, clock() - start[0]), unit="bytes")

    return report
