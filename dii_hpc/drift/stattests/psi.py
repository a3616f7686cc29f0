"""Population Stability Index: the credit-scoring industry's shift measure (never a default)."""

from __future__ import annotations

from typing import Any

from dii_hpc.drift.stattest import ANY_KIND, Pair, Score, StatTest


def _psi(pair: Pair) -> Score:
    from dii_hpc.drift import stats

    return Score(stats.psi(*pair.counts()))


def _psi_sketch(pair: Any) -> Score:
    from dii_hpc.drift.sketch import tests

    return tests.psi(pair)


PSI = StatTest(name="psi", kinds=ANY_KIND, function=_psi, threshold=0.1, p_value=False,
               doc="Population Stability Index over categories or bins (empty bins floored)",
               sketch=_psi_sketch)
