"""Chi-square test of homogeneity on the 2 x k table of counts: the default for categorical
(and few-valued numeric) features of small references."""

from __future__ import annotations

from typing import Any

from dii_hpc.drift.stattest import ANY_KIND, Pair, Score, StatTest


def _chisquare(pair: Pair) -> Score:
    from dii_hpc.drift import stats

    chi, p = stats.chi_square(*pair.counts())
    return Score(chi, p)


def _chisquare_sketch(pair: Any) -> Score:
    from dii_hpc.drift.sketch import tests

    return tests.chisquare(pair)


CHISQUARE = StatTest(name="chisquare", kinds=ANY_KIND, function=_chisquare, threshold=0.05,
                     p_value=True,
                     doc="chi-square homogeneity test on category counts (binned when continuous)",
                     sketch=_chisquare_sketch)
