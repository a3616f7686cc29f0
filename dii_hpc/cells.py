"""How one value of a runs listing reads: as text (`cell`: the CLI's tables, `dii-hpc top`)
and as JSON (`frame_json`: `runs list --format json`, the ui's API).

Below both the CLI and the ui, so that each prints a number, a missing value or a time the same
way without one importing the other.  Pure functions; pandas is only the caller's.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def cell(value: Any, *, digits: int = 4, none: str = "-", grouped: bool = False) -> str:
    """One value as text: floats to ``digits`` significant digits (``grouped``: with thousands
    separators), None and NaN as ``none``, timestamps to the second."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if grouped else f"{value:.{digits}g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def json_cell(value: Any) -> Any:
    """A table cell for JSON: an empty cell (None, NaN, NaT) is null, a time ISO 8601 UTC to
    the millisecond (as pandas writes it); inf stays "inf" (the one encoder's rule)."""
    try:
        if value is None or value != value:  # NaN and NaT differ from themselves
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, dt.datetime):  # pandas Timestamps too
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"
    return value


def frame_json(df: pd.DataFrame) -> str:
    """A runs frame as a JSON array of records, through the one strict encoder."""
    from dii_hpc.store.atomic import dumps

    return dumps([{str(k): json_cell(v) for k, v in row.items()}
                  for row in df.to_dict("records")]).decode()
