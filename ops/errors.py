"""Typed errors raised by ops and models; the UI and CLI turn them into plain sentences."""

from __future__ import annotations

import math


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


def whole_number(value, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` (a number field's int, float or text) as an int, within [lo, hi] when given; an empty,
    fractional or out-of-range value is an :class:`InvalidInputError` that names the field."""
    wanted = f"a whole number from {lo} to {hi}" if lo is not None and hi is not None else "a whole number"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInputError(f"{name} is empty: enter {wanted}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v == int(v) and (lo is None or v >= lo) and (hi is None or v <= hi)):
        raise InvalidInputError(f"{name} must be {wanted} (got {value!r}).")
    return int(v)
