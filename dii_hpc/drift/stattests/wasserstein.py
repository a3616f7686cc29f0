"""Wasserstein-1 over the reference's standard deviation: the default for numeric features of
large references (a tenth of a standard deviation is the threshold whatever the unit)."""

from __future__ import annotations

from typing import Any

from dii_hpc.drift.stattest import NUMERIC, Pair, Score, StatTest


def _wasserstein(pair: Pair) -> Score:
    from dii_hpc.drift import stats

    return Score(stats.wasserstein_normed(pair.reference, pair.current))


def _wasserstein_sketch(pair: Any) -> Score:
    from dii_hpc.drift.sketch import tests

    return tests.wasserstein(pair)


WASSERSTEIN = StatTest(name="wasserstein", kinds=NUMERIC, function=_wasserstein, threshold=0.1,
                       p_value=False,
                       doc="Wasserstein-1 distance / std(reference), from the sorted samples",
                       sketch=_wasserstein_sketch)
