"""Two-sample Kolmogorov-Smirnov: the default for numeric features of small references."""

from __future__ import annotations

from typing import Any

from dii_hpc.drift.stattest import NUMERIC, Pair, Score, StatTest


def _ks(pair: Pair) -> Score:
    from dii_hpc.drift import stats

    d, p = stats.ks_sorted(pair.reference, pair.current)
    return Score(d, p)


def _ks_sketch(pair: Any) -> Score:
    from dii_hpc.drift.sketch import tests

    return tests.ks(pair)


KS = StatTest(name="ks", kinds=NUMERIC, function=_ks, threshold=0.05, p_value=True,
              doc="Kolmogorov-Smirnov: largest gap between the two empirical CDFs (scipy's 'auto')",
              sketch=_ks_sketch)
