"""Numbers typed by people (a form field, a CLI flag, a recipe), read into checked values."""

from __future__ import annotations

import math

from core.errors import InvalidInputError


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
