"""constant: a column that varies in the reference holds one value in the batch, more often
than chance allows (a sparse column of a small batch is all zeros by chance alone)."""

from __future__ import annotations

from dii_hpc.drift.quality.rule import QualityRule, Tables, result, shown
from dii_hpc.records.drift import QualityResult


def _constant(t: Tables, threshold: float) -> list[QualityResult]:
    out = []
    for col in t.same_kind():
        ref, cur = t.reference[col].dropna(), t.current[col].dropna()
        if ref.nunique() < 2 or cur.nunique() != 1 or len(cur) < 2:
            out.append(result("constant", col, False, f"{cur.nunique()} distinct values"))
            continue
        value = cur.iloc[0]
        share = float((ref == value).mean())
        chance = share ** len(cur)  # P(every row of the batch takes it | the reference's mix)
        out.append(result("constant", col, chance < threshold,
                          f"one value {shown(value)} in {len(cur)} rows (reference: "
                          f"{share:.1%} of its rows, {ref.nunique()} values; chance "
                          f"{chance:.2g})"))
    return out


CONSTANT = QualityRule(name="constant", function=_constant, threshold=0.001, order=6,
                       doc="a column with several values in the reference has one in the batch, "
                           "with a chance below threshold under the reference's frequencies")
