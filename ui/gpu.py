"""A GPU for the events that run a model, on Hugging Face ZeroGPU Spaces."""

from __future__ import annotations

import sys
from collections.abc import Callable


def on_gpu(duration: int) -> Callable[[Callable], Callable]:
    """Decorator for work that runs a model: on a Hugging Face ZeroGPU Space, a GPU is attached for the call.

    ZeroGPU lends a GPU only inside functions wrapped by ``spaces.GPU`` (elsewhere its stubbed CUDA raises);
    ``duration`` is the longest the call may hold it, in seconds. ``app.py`` imports ``spaces`` before torch
    where it is installed; without it, or off ZeroGPU (where ``spaces.GPU`` hands the function back), this
    changes nothing. Apply it when the app is built, not at import, so that it sees ``spaces`` then.
    """

    def wrap(fn: Callable) -> Callable:
        gpu = getattr(sys.modules.get("spaces"), "GPU", None)
        return gpu(duration=duration)(fn) if gpu is not None else fn

    return wrap
