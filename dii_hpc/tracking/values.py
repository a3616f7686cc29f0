"""Coercion of logged values: cheap for the common types, one clear error for the rest."""

from __future__ import annotations

import numbers
from typing import Any

from dii_hpc.errors import BadInput


def to_float(key: str, value: Any) -> float:
    """Numbers, bools (as 0/1, like float() does) and 0-d numpy/torch scalars."""
    if value is None or isinstance(value, (str, bytes)):
        raise BadInput(f"metric {key!r}: value {value!r} is not a number")
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy / torch scalars and 0-d tensors
    if item is not None and getattr(value, "ndim", 0) == 0:
        return to_float(key, item())
    raise BadInput(f"metric {key!r}: value {value!r} is not a number")


def to_step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        item = getattr(step, "item", None)
        if item is not None and getattr(step, "ndim", 1) == 0 and "int" in str(getattr(step, "dtype", "")):
            return int(item())
        raise BadInput(f"metric {key!r}: step {step!r} is not an integer")
    n = int(step)
    if n < 0:
        raise BadInput(f"metric {key!r}: step {n} is negative")
    if n >= 2**64 - 1:  # the packed step field is uint64, and its top value means "auto"
        raise BadInput(f"metric {key!r}: step {n} is too large (at most 2**64 - 2)")
    return n
