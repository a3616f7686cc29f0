"""out_of_range: numeric values outside the reference's [min, max]."""

from __future__ import annotations

import numpy as np

from dii_hpc.drift.quality.rule import QualityRule, Tables, result
from dii_hpc.records.drift import QualityResult


def _range(t: Tables, threshold: float) -> list[QualityResult]:
    out = []
    for col in t.same_kind():
        if t.kinds[col][0] != "number":
            continue
        ref = t.reference[col].dropna().to_numpy(np.float64)
        cur = t.current[col].dropna().to_numpy(np.float64)
        if not len(ref) or not len(cur):
            continue
        lo, hi = float(ref.min()), float(ref.max())
        share = float(np.mean((cur < lo) | (cur > hi)))
        out.append(result("out_of_range", col, share > threshold,
                          f"{share:.2%} outside the reference's [{lo:.4g}, {hi:.4g}] "
                          f"(allowed {threshold:.2%})"))
    return out


OUT_OF_RANGE = QualityRule(name="out_of_range", function=_range, threshold=0.01, order=3,
                           doc="share of numeric values outside the reference's min..max "
                               "above threshold")
