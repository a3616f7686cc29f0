"""duplicates: more duplicated rows than the reference has (a feed sent a batch twice)."""

from __future__ import annotations

from dii_hpc.drift.quality.rule import QualityRule, Tables, result
from dii_hpc.records.drift import QualityResult


def _duplicates(t: Tables, threshold: float) -> list[QualityResult]:
    ref = float(t.reference.duplicated().mean())
    cur = float(t.current.duplicated().mean())
    return [result("duplicates", None, cur - ref > threshold,
                   f"{cur:.2%} duplicated rows (reference {ref:.2%}, allowed +{threshold:.2%})")]


DUPLICATES = QualityRule(name="duplicates", function=_duplicates, threshold=0.05, order=5,
                         doc="share of duplicated rows above the reference's + threshold")
