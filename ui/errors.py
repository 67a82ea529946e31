"""Errors as the user reads them: a handler's typed errors become a gr.Error toast with a plain sentence."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from core.errors import GanvasError, OutOfMemoryError, is_out_of_memory

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
        except Exception as exc:  # the server must survive anything a handler does
            if is_out_of_memory(exc):  # torch says so with a RuntimeError and the allocator's text
                log.warning("out of memory in %s: %s", getattr(fn, "__name__", fn), exc)
                raise gr.Error(str(OutOfMemoryError())) from exc
            # the details (a library's words, server paths) go to the log, not to the visitor
            log.exception("unexpected error in %s", getattr(fn, "__name__", fn))
            raise gr.Error(
                "Something went wrong on the server with this request. Try other settings or another image; "
                "the details are in the server's log."
            ) from exc

    return wrapper
