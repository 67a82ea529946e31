"""Gradio's progress bar as the progress callback that long ops take."""

from __future__ import annotations

from collections.abc import Callable

from core.progress import Progress


def reporter(progress: Callable | None) -> Progress:
    """An ops progress callback that moves ``progress`` (a gr.Progress; None: reports go nowhere)."""

    def report(fraction: float, desc: str) -> None:
        if progress is not None:
            progress(fraction, desc=desc)

    return report
