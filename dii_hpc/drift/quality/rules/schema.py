"""schema: columns missing from the batch, new ones, and a missing one that looks renamed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dii_hpc.drift.quality.rule import QualityRule, Tables, kind_of, result
from dii_hpc.records.drift import QualityResult

SAME_VALUES_KS = 0.1   # a new numeric column this close (KS statistic) to a missing one
SAME_CATEGORIES = 0.9  # ... or sharing this share (Jaccard) of its categories


def _similarity(a: Any, b: Any, categorical: bool) -> float:
    """1 - KS statistic of two numeric columns, else the Jaccard index of their values."""
    if kind_of(a, categorical) != kind_of(b, categorical):
        return 0.0
    x, y = a.dropna().to_numpy(), b.dropna().to_numpy()
    if not len(x) or not len(y):
        return 0.0
    if kind_of(a, categorical) == "number":
        from scipy.stats import ks_2samp

        return 1.0 - float(ks_2samp(x.astype(np.float64), y.astype(np.float64)).statistic)
    sx, sy = set(map(str, x)), set(map(str, y))
    return len(sx & sy) / len(sx | sy)


def _renamed(t: Tables, col: str, new: list[str]) -> str | None:
    """The new column holding what ``col`` held, if one does."""
    cat = col in t.categorical
    best, score = None, 0.0
    for cand in new:
        s = _similarity(t.reference[col], t.current[cand], cat)
        if s > score:
            best, score = cand, s
    need = 1.0 - SAME_VALUES_KS if kind_of(t.reference[col], cat) == "number" else SAME_CATEGORIES
    return best if score >= need else None


def schema_results(ref_cols: list[str], cur_cols: list[str],
                   renamed: Callable[[str, list[str]], str | None], ref_name: str,
                   cur_name: str) -> list[QualityResult]:
    """The rule's verdicts from the two column lists (the exact and the sketch check share it;
    ``renamed(col, new)``: the new column holding a missing one's values, if any)."""
    missing = [c for c in ref_cols if c not in cur_cols]
    new = [c for c in cur_cols if c not in ref_cols]
    out = []
    for col in missing:
        to = renamed(col, new)
        out.append(result("schema", col, True, f"renamed to {to!r}? (same values; missing from "
                          f"{cur_name})" if to else f"missing from {cur_name}"))
    out += [result("schema", col, True, f"new column (not in {ref_name})") for col in new]
    common = sum(c in cur_cols for c in ref_cols)
    return out or [result("schema", None, False, f"the {common} columns of {ref_name}, "
                          "no new one")]


def _schema(t: Tables, _threshold: float) -> list[QualityResult]:
    return schema_results(list(t.reference.columns), list(t.current.columns),
                          lambda col, new: _renamed(t, col, new), t.ref_name, t.cur_name)


SCHEMA = QualityRule(name="schema", function=_schema, threshold=0.0, order=0,
                     doc="columns new, missing or renamed (a missing one whose values a new "
                         "one holds) vs the reference")
