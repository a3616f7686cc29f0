"""A drift stat test from outside dii-hpc: the two-sample Cramér-von Mises test.

Registered only through the entry point ``dii_hpc.stattests`` (see pyproject.toml): dii-hpc
lists it in `dii-hpc drift tests` and `dii-hpc drift check --test COL=cvm` runs it. Like the
Kolmogorov-Smirnov test it compares the two empirical CDFs, but over the whole of them (a sum
of squared gaps, not the largest one), so it catches shifts spread over the distribution.
"""

from __future__ import annotations

from dii_hpc.drift.stattest import NUMERIC, Pair, Score, StatTest


def cramer_von_mises(pair: Pair) -> Score:
    """The statistic and p-value of scipy's two-sample test (exact for small samples)."""
    from scipy import stats

    res = stats.cramervonmises_2samp(pair.reference, pair.current)
    return Score(float(res.statistic), float(res.pvalue))


CRAMER_VON_MISES = StatTest(
    name="cvm", kinds=NUMERIC, function=cramer_von_mises, threshold=0.01, p_value=True,
    doc="two-sample Cramér-von Mises (scipy): squared gaps between the empirical CDFs")
