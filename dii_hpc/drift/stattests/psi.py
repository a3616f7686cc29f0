"""Population Stability Index: the credit-scoring industry's shift measure (never a default)."""

from __future__ import annotations

from dii_hpc.drift.stattest import ANY_KIND, Pair, Score, StatTest


def _psi(pair: Pair) -> Score:
    from dii_hpc.drift import stats

    return Score(stats.psi(*pair.counts()))


PSI = StatTest(name="psi", kinds=ANY_KIND, function=_psi, threshold=0.1, p_value=False,
               doc="Population Stability Index over categories or bins (empty bins floored)")
