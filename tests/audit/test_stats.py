"""The audit statistics: Clopper-Pearson equals scipy's exact interval and the beta quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from dii_hpc.audit.core import stats


def _beta_quantiles(k: int, n: int, alpha: float) -> list[float]:
    """The closed form the suites computed before (beta quantiles), as the reference."""
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return [lo, hi]


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 50, 333, 1000, 5000])
def test_clopper_pearson_equals_the_beta_quantiles(n: int, confidence: float) -> None:
    alpha = 1 - confidence
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        got = stats.clopper_pearson(k, n, alpha)
        np.testing.assert_allclose(got, _beta_quantiles(k, n, alpha), rtol=0, atol=1e-11)
        assert 0.0 <= got[0] <= k / n <= got[1] <= 1.0


@pytest.mark.parametrize("n", [1, 7, 50, 333, 5000])
def test_clopper_pearson_equals_scipys_exact_interval(n: int) -> None:
    from scipy.stats import binomtest

    for k in sorted({0, 1, n // 3, n - 1, n}):
        for confidence in (0.9, 0.95, 0.999):
            ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
            np.testing.assert_allclose(stats.clopper_pearson(k, n, 1 - confidence),
                                       [ci.low, ci.high], rtol=0, atol=1e-11)


def test_interval_edges() -> None:
    assert stats.clopper_pearson(0, 0) == [0.0, 1.0]
    assert stats.clopper_pearson(0, 10)[0] == 0.0 and stats.clopper_pearson(10, 10)[1] == 1.0
    assert stats.rate_interval(np.array([True, False, True, True])) == stats.clopper_pearson(3, 4)
