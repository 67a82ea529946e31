"""Typed errors raised by ops and models; the UI and CLI turn them into plain sentences."""

from __future__ import annotations


class GanvasError(Exception):
    """Base class: the message is written for a person, not a programmer."""


class InvalidInputError(GanvasError, ValueError):
    """An input image, mask or parameter cannot be used as given."""


class ImageTooLargeError(GanvasError):
    """The image exceeds the pixel limit configured for this operation."""


class UnknownModelError(GanvasError, KeyError):
    """A model id that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown model"


class WeightsUnavailableError(GanvasError):
    """Weights could not be fetched (offline, not cached, package missing)."""


class WeightsIntegrityError(GanvasError):
    """A weights file does not match its recorded sha256."""


class OutOfMemoryError(GanvasError):
    """The machine ran out of memory for a request (torch reports this as a RuntimeError, not a MemoryError)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "There was not enough memory for this request. Try a smaller image, a smaller scale or a smaller "
            "tile size, or try again when the machine is less busy."
        )


def is_out_of_memory(exc: BaseException) -> bool:
    """True for out-of-memory errors of the CPU, CUDA or MPS, whatever type reports them."""
    if isinstance(exc, (MemoryError, OutOfMemoryError)):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def quoted(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters: a message quotes what the user sent,
    and a megabyte of it would bury the sentence."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"
