"""The drift statistics equal scipy's on the same inputs, and keep their nominal false-alarm rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from dii_hpc.drift import stats as ds
from dii_hpc.drift.compare import compare_frames
from dii_hpc.drift.options import DriftOptions

SIZES = [(50, 70), (400, 400), (3000, 2000), (12000, 15000), (20000, 20000)]


@pytest.mark.parametrize(("n", "m"), SIZES)
def test_ks_and_wasserstein_equal_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    a = rng.normal(size=n)
    b = rng.normal(0.05, 1.1, size=m)
    d, p = ds.ks_sorted(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b)
    assert d == pytest.approx(ref.statistic, abs=1e-15)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    w = ds.wasserstein_sorted(np.sort(a), np.sort(b))
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)
    assert ds.wasserstein_normed(np.sort(a), np.sort(b)) == pytest.approx(
        stats.wasserstein_distance(a, b) / np.std(a), rel=1e-10)


def test_ties_and_integers_equal_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 7, size=15000).astype(float)
    b = rng.integers(0, 8, size=11000).astype(float)
    d, p = ds.ks_sorted(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b)
    assert (d, p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-9)
    assert ds.wasserstein_sorted(np.sort(a), np.sort(b)) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=1e-10)


def test_count_tests_equal_scipy() -> None:
    rng = np.random.default_rng(4)
    a = rng.choice(["x", "y", "z", "w"], size=900, p=[0.4, 0.3, 0.2, 0.1])
    b = rng.choice(["x", "y", "z"], size=700, p=[0.3, 0.3, 0.4])
    rc, cc, labels = ds.category_counts(a, b)
    assert labels == ["w", "x", "y", "z"] or sorted(labels) == ["w", "x", "y", "z"]
    table = np.array([[np.sum(a == c) for c in labels], [np.sum(b == c) for c in labels]])
    assert (np.vstack([rc, cc]) == table).all()
    chi, p = ds.chi_square(rc, cc)
    ref = stats.chi2_contingency(table, correction=False)
    assert (chi, p) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    js = ds.jensen_shannon(rc, cc)
    assert js == pytest.approx(distance.jensenshannon(rc / rc.sum(), cc / cc.sum()), rel=1e-12)
    r = np.maximum(rc / rc.sum(), 1e-4)
    c = np.maximum(cc / cc.sum(), 1e-4)
    assert ds.psi(rc, cc) == pytest.approx(np.sum((c - r) * np.log(c / r)), rel=1e-12)


def test_histograms_equal_numpy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=5000), rng.normal(0.3, 1, size=4000)
    rc, cc = ds.numeric_histograms(np.sort(a), np.sort(b))
    edges = np.histogram_bin_edges(np.r_[a, b], bins="sturges")
    assert (rc == np.histogram(a, edges)[0]).all()
    assert (cc == np.histogram(b, edges)[0]).all()


def test_domain_classifier_auc_is_roc_auc_and_finds_shift() -> None:
    rng = np.random.default_rng(6)
    same = ds.domain_classifier_test(rng.normal(size=(400, 3)), rng.normal(size=(400, 3)))
    shifted = ds.domain_classifier_test(rng.normal(size=(400, 3)),
                                        rng.normal(size=(400, 3)) + [0.6, 0, 0])
    assert same["p_value"] > 0.01 and 0.4 < same["statistic"] < 0.6
    assert shifted["p_value"] < 1e-4 and shifted["statistic"] > 0.55


def test_mmd_permutation_test() -> None:
    rng = np.random.default_rng(7)
    null = [ds.mmd_test(rng.normal(size=(60, 4)), rng.normal(size=(60, 4)),
                        n_permutations=99, seed=i)["p_value"] for i in range(40)]
    assert 0.0 <= np.mean(np.array(null) < 0.05) <= 0.15
    alt = ds.mmd_test(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) * 1.4, seed=1)
    assert alt["p_value"] < 0.01
    big = ds.mmd_test(rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)), subsample=200)
    assert big["n_reference_used"] == 200 and big["n_current_used"] == 200


def test_false_alarm_rate_two_halves_of_one_dataset() -> None:
    """Per-feature false alarms on random halves of breast_cancer stay near alpha = 0.05."""
    from sklearn.datasets import load_breast_cancer

    x = load_breast_cancer(as_frame=True).data
    rng = np.random.default_rng(8)
    alarms = []
    for _ in range(60):
        idx = rng.permutation(len(x))
        half = len(x) // 2
        sec = compare_frames(x.iloc[idx[:half]].reset_index(drop=True),
                             x.iloc[idx[half:2 * half]].reset_index(drop=True), DriftOptions())
        assert {f.test for f in sec.features.values()} == {"ks"}
        alarms += [f.drift for f in sec.features.values()]
    rate = float(np.mean(alarms))
    assert 0.02 <= rate <= 0.08, rate


def test_false_alarm_rate_categorical() -> None:
    rng = np.random.default_rng(9)
    pool = pd.DataFrame({f"c{i}": rng.choice(list("abcd"), size=600, p=[0.4, 0.3, 0.2, 0.1])
                         for i in range(5)})
    alarms = []
    for _ in range(60):
        idx = rng.permutation(600)
        sec = compare_frames(pool.iloc[idx[:300]], pool.iloc[idx[300:]], DriftOptions())
        alarms += [f.drift for f in sec.features.values()]
    assert 0.02 <= float(np.mean(alarms)) <= 0.08


def test_jensen_shannon_with_empty_bins_equals_scipy() -> None:
    rng = np.random.default_rng(10)
    for _ in range(20):
        a = rng.integers(0, 5, size=8) * rng.integers(0, 2, size=8)
        b = rng.integers(0, 5, size=8)
        a[0], b[1] = 3, 2
        assert ds.jensen_shannon(a, b) == pytest.approx(
            distance.jensenshannon(a / a.sum(), b / b.sum()), rel=1e-12, abs=1e-15)
