"""new_category: values of a categorical column that the reference never had."""

from __future__ import annotations

from dii_hpc.drift.quality.rule import QualityRule, Tables, result
from dii_hpc.records.drift import QualityResult


def _new(t: Tables, threshold: float) -> list[QualityResult]:
    out = []
    for col in t.same_kind():
        if t.kinds[col][0] not in ("text", "category", "bool"):
            continue
        seen = set(map(str, t.reference[col].dropna().unique()))
        cur = t.current[col].dropna().astype(str)
        fresh = ~cur.isin(seen)
        share = float(fresh.mean()) if len(cur) else 0.0
        names = sorted(set(cur[fresh]))
        shown = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        out.append(result("new_category", col, share > threshold,
                          f"{share:.2%} of rows in new categories {shown}" if names
                          else "no new category"))
    return out


NEW_CATEGORY = QualityRule(name="new_category", function=_new, threshold=0.0, order=4,
                           doc="share of rows whose category the reference never had above "
                               "threshold (default: any)")
