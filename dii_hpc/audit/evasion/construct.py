"""How an ART attack object is made from a record: the class by its path, the parameters
checked by ART itself (`build`), a norm as written in YAML or --param (`parse_norm`), and
parameters back to JSON for the result (`jsonable`).

Below `generate` (the classification path) and `vision` (detectors and segmenters), which
both build ART attacks, so neither imports the other for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.errors import BadInput


def parse_norm(value: Any) -> Any:
    """'inf'/'linf' -> np.inf, '2'/'l2' -> 2 (YAML and --param give strings)."""
    text = str(value).lower().lstrip("l")
    if text in ("inf", "infinity", "np.inf"):
        return np.inf
    if text in ("1", "2"):
        return int(text)
    raise BadInput(f"norm={value!r} is not one of inf, 1, 2")


def build(art_class: str, estimator: Any, params: dict[str, Any], label: str) -> Any:
    """Instantiate an ART attack; ART's own complaint becomes a one-line BadInput."""
    from art.exceptions import EstimatorError

    from dii_hpc.config import refs

    cls = refs.resolve(art_class, f"attack {label}", what="attack")
    kwargs = {"verbose": False, **params} if _takes(cls, "verbose") else dict(params)
    try:
        return cls(estimator, **kwargs)
    except (ValueError, TypeError, EstimatorError) as err:
        raise BadInput(f"attack {label}: ART rejected the parameters: "
                       f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def _takes(cls: Any, name: str) -> bool:
    import inspect

    return name in inspect.signature(cls.__init__).parameters


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """np.inf -> "inf" and numpy scalars -> Python, so configs round-trip through JSON."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, float) and np.isinf(v):
            out[k] = "inf"
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, (str, int, float, bool, type(None), list, dict)):
            out[k] = v
        else:
            out[k] = repr(v)
    return out
