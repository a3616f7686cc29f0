"""constant: a column that varies in the reference holds one value in the batch."""

from __future__ import annotations

from dii_hpc.drift.quality.rule import QualityRule, Tables, result
from dii_hpc.records.drift import QualityResult


def _constant(t: Tables, _threshold: float) -> list[QualityResult]:
    out = []
    for col in t.same_kind():
        ref, cur = t.reference[col].nunique(), t.current[col].nunique()
        stuck = cur == 1 and ref > 1 and len(t.current) > 1
        value = t.current[col].dropna().iloc[0] if stuck else None
        out.append(result("constant", col, stuck,
                          f"one value {value!r} (reference has {ref})" if stuck
                          else f"{cur} distinct values"))
    return out


CONSTANT = QualityRule(name="constant", function=_constant, threshold=0.0, order=6,
                       doc="a column with several values in the reference has one in the batch")
