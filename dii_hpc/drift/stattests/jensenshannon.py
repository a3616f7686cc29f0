"""Jensen-Shannon distance between the count distributions: the default for categorical (and
few-valued numeric) features of large references."""

from __future__ import annotations

from typing import Any

from dii_hpc.drift.stattest import ANY_KIND, Pair, Score, StatTest


def _jensenshannon(pair: Pair) -> Score:
    from dii_hpc.drift import stats

    return Score(stats.jensen_shannon(*pair.counts()))


def _jensenshannon_sketch(pair: Any) -> Score:
    from dii_hpc.drift.sketch import tests

    return tests.jensenshannon(pair)


JENSENSHANNON = StatTest(name="jensenshannon", kinds=ANY_KIND, function=_jensenshannon,
                         threshold=0.1, p_value=False,
                         doc="Jensen-Shannon distance (natural log) of category or bin shares",
                         sketch=_jensenshannon_sketch)
