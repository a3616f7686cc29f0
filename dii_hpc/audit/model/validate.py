"""Checks that turn bad data and bad parameters into one-line BadInput before any work.

ART fails late and verbosely on shape or range mistakes (sometimes after minutes of
attack); these checks name the array, the shape or the key up front.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.model.protocols import Predictor, Task
from dii_hpc.errors import BadInput


def pop_number(params: dict[str, Any], key: str, default: float, attack: str,
               cast: type = float) -> Any:
    """``params.pop(key)`` as a number (``-p fraction=abc`` is one line, not a ValueError)."""
    value = params.pop(key, default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = cast(float(value)) if cast is int else cast(value)
        if cast is int and number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        kind = "an integer" if cast is int else "a number"
        raise BadInput(f"attack {attack}: {key}={value!r} is not {kind}") from None
    return number


def check_arrays(model: Predictor, x: Any, y: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapes, NaN and label range of one split against the model's declared interface."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype == object or y.dtype == object:
        raise BadInput(f"{where}: x/y must be numeric arrays, got dtype object")
    x = x.astype(np.float32, copy=False)
    shape = tuple(model.input_shape)
    if x.ndim < 1 or tuple(x.shape[1:]) != shape:
        raise BadInput(f"{where}: x has shape {tuple(x.shape)}, model expects (N, "
                       f"{', '.join(map(str, shape))})")
    if len(y) != len(x):
        raise BadInput(f"{where}: {len(x)} inputs but {len(y)} labels")
    if not np.isfinite(x).all():
        raise BadInput(f"{where}: x contains NaN or infinite values "
                       f"({int((~np.isfinite(x)).sum())} entries)")
    lo, hi = model.clip_values
    if x.size and (x.min() < lo - 1e-6 or x.max() > hi + 1e-6):
        raise BadInput(f"{where}: x spans [{x.min():.4g}, {x.max():.4g}] outside the model's "
                       f"clip_values [{lo:.4g}, {hi:.4g}]")
    return x, _check_labels(model, y, where)


def _check_labels(model: Predictor, y: np.ndarray, where: str) -> np.ndarray:
    task = Task.parse(model.task)
    if task.is_regression:
        y = y.astype(np.float32).reshape(-1)
        if not np.isfinite(y).all():
            raise BadInput(f"{where}: y contains NaN or infinite targets")
        return y
    if y.ndim != 1 or (y.size and not np.all(np.equal(np.mod(y, 1), 0))):
        raise BadInput(f"{where}: labels must be a 1-D array of integer class ids")
    y = y.astype(np.int64)
    n = int(model.nb_classes or 0)
    if y.size and (y.min() < 0 or y.max() >= n):
        raise BadInput(f"{where}: labels span [{y.min()}, {y.max()}] but the model has "
                       f"nb_classes={n} (expected 0..{n - 1})")
    return y


#: The budget parameters: numbers or fractions ("8/255"), read by `parse_eps` in `check_budget`.
BUDGETS = ("eps", "eps_step")


def check_budget(params: dict[str, Any], clip_values: tuple[float, float],
                 n_features: int, attack: str) -> None:
    """eps/eps_step must be positive and within the data's value range (per norm)."""
    span = float(clip_values[1] - clip_values[0])
    norm = params.get("norm", np.inf)
    limit = span if norm in (np.inf, "inf") else span * float(np.sqrt(n_features))
    if norm == 1:
        limit = span * n_features
    for key in BUDGETS:
        if key not in params or params[key] is None:
            continue
        value = params[key] = parse_eps(params[key], f"attack {attack}: {key}")
        if not 0 < value <= limit:
            raise BadInput(f"attack {attack}: {key}={value:g} is outside (0, {limit:g}], the "
                           f"data's range for norm {norm} (clip_values {list(clip_values)})")


def parse_eps(value: Any, key: str = "eps") -> float:
    """A budget as a number or a fraction ("8/255", the field's way to write Linf eps).

    The one parser behind every eps option (`--eps`, `--param eps=...`, config `params`)."""
    import math
    import re
    from fractions import Fraction

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        match = re.fullmatch(r"([0-9.eE+-]+)\s*/\s*([0-9.eE+-]+)", text)
        try:
            number = (float(Fraction(match[1]) / Fraction(match[2])) if match
                      else float(text))
        except (ValueError, ZeroDivisionError) as err:
            raise BadInput(f"{key}={value!r} is not a number or a fraction such as "
                           "8/255") from err
    if not math.isfinite(number):
        raise BadInput(f"{key}={value!r} is not a finite number")
    return number
