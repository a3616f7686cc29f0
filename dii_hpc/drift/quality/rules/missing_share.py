"""missing_share: a column's share of missing values grew beyond the reference's."""

from __future__ import annotations

from dii_hpc.drift.quality.rule import QualityRule, Tables, result
from dii_hpc.records.drift import QualityResult


def _missing(t: Tables, threshold: float) -> list[QualityResult]:
    out = []
    for col in t.common:
        ref, cur = float(t.reference[col].isna().mean()), float(t.current[col].isna().mean())
        gone = cur == 1.0 and ref < 1.0
        out.append(result("missing_share", col, gone or cur - ref > threshold,
                          f"{cur:.1%} missing (reference {ref:.1%}, allowed +{threshold:.1%})"))
    return out


MISSING_SHARE = QualityRule(name="missing_share", function=_missing, threshold=0.05, order=2,
                            blocks=True,
                            doc="share of missing values above the reference's + threshold "
                                "(a column gone all missing is left out of the drift tests)")
