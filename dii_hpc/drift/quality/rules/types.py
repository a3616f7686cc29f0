"""type: a shared column whose kind changed (numbers became text, text became numbers...)."""

from __future__ import annotations

from typing import Any

from dii_hpc.drift.quality.rule import QualityRule, Tables, result, shown
from dii_hpc.records.drift import QualityResult


def _first_odd(series: Any, numbers: bool) -> Any:
    """The first value that is not a number (``numbers``) or the first value at all."""
    present = series.dropna()
    if numbers:
        import pandas as pd

        bad = pd.to_numeric(present, errors="coerce").isna()
        if bad.any():
            return present[bad].iloc[0]
    return present.iloc[0] if len(present) else None


def _types(t: Tables, _threshold: float) -> list[QualityResult]:
    out = []
    for col in t.common:
        ref, cur = t.kinds[col]
        if ref == cur:
            out.append(result("type", col, False, ref))
        elif ref == "number" and cur == "text":
            out.append(result("type", col, True, f"has text {shown(_first_odd(t.current[col], True))} "
                              f"where numbers are expected (as in {t.ref_name})"))
        elif ref == "text" and cur == "number":
            out.append(result("type", col, True, f"holds numbers where {t.ref_name} has text "
                              f"({shown(_first_odd(t.reference[col], False))}); give --categorical "
                              f"{col} if both are fine"))
        else:
            out.append(result("type", col, True, f"{cur} where {t.ref_name} has {ref}"))
    return out


TYPE = QualityRule(name="type", function=_types, threshold=0.0, order=1, blocks=True,
                   doc="a shared column's kind (number, bool, datetime, text) changed")
