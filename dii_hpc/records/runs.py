"""Run records as their readers choose among them: the best run of a set by a metric.

Where a run lives is the store's (`Store.run_path`); what run.json holds is
`dii_hpc.store.records`. Here: decisions several packages make over run records, made once
(a pipeline's ``select`` stage and the quickstart pick the best run the same way).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from dii_hpc import vocabulary as vocab


def last_value(record: Mapping[str, Any], metric: str) -> float | None:
    """The metric's last logged value in the run's summary; None when absent or not finite."""
    value = ((record.get("metrics") or {}).get(metric) or {}).get("last")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def best(records: Iterable[Mapping[str, Any]], metric: str,
         mode: Literal["max", "min"] = "max") -> tuple[str, float] | None:
    """(run id, value) of the FINISHED run whose ``metric`` ended highest (``max``) or lowest
    (``min``); the first such run on a tie; None when no finished run has a finite value."""
    found: tuple[str, float] | None = None
    for record in records:
        value = last_value(record, metric)
        if record.get("status") != vocab.FINISHED or value is None:
            continue
        if found is None or (value > found[1] if mode == "max" else value < found[1]):
            found = (str(record["run_id"]), value)
    return found
