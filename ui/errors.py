"""Errors as the user reads them: a handler's typed errors become a gr.Error toast with a plain sentence."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from core.errors import GanvasError

log = logging.getLogger("ganvas")


def friendly(fn: Callable) -> Callable:
    """Turn typed errors into a gr.Error toast with the error's own plain sentence."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GanvasError as exc:
            raise gr.Error(str(exc)) from exc
        except MemoryError as exc:
            raise gr.Error("The machine ran out of memory: try a smaller image or a smaller tile size.") from exc
        except Exception as exc:  # the server must survive anything a handler does
            log.exception("unexpected error in %s", getattr(fn, "__name__", fn))
            raise gr.Error(f"Something went wrong ({exc.__class__.__name__}: {exc}).") from exc

    return wrapper
