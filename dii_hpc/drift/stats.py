"""Two-sample statistics for drift: pure functions on numpy arrays, no I/O, no store.

Why not simply call scipy everywhere: a nightly check compares millions of rows per feature,
and scipy re-sorts both samples and runs two binary searches over the pooled sample for every
call. Here the numeric tests take *already sorted* samples (each column is sorted once and
shared by every test that needs it), Wasserstein-1 is computed from the two quantile functions
in O(n + m) without merging the data, and histograms use fixed bin edges. On small samples
(where the exact distributions matter) the functions delegate to scipy itself, so statistics and
p-values are scipy's; on large samples they follow scipy's own formulas (tests check equality).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EXACT_KS_MAX_N = 10_000  # scipy's ks_2samp 'auto' switches to the asymptotic formula above this


def ks_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov on sorted samples: (D, p-value), as scipy's 'auto'."""
    from scipy import stats

    n1, n2 = len(ref_sorted), len(cur_sorted)
    if max(n1, n2) <= EXACT_KS_MAX_N:
        res = stats.ks_2samp(ref_sorted, cur_sorted)
        return float(res.statistic), float(res.pvalue)
    pooled = np.concatenate([ref_sorted, cur_sorted])
    cdf1 = np.searchsorted(ref_sorted, pooled, side="right") / n1
    cdf2 = np.searchsorted(cur_sorted, pooled, side="right") / n2
    diff = cdf1 - cdf2
    d = float(max(diff.max(), np.clip(-diff.min(), 0, 1)))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(stats.distributions.kstwo.sf(d, np.round(en)), 0, 1))
    return d, p


def wasserstein_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Wasserstein-1 distance between two sorted samples (equals scipy.stats.wasserstein_distance).

    W1 is the integral of |Q_ref(t) - Q_cur(t)| over t in (0, 1); both quantile functions are
    step functions whose steps sit at i/n and j/m, so the integral is a sum over the merged
    grid of those levels. The grid is built from integers (i*m and j*n over a common
    denominator n*m): no merge of the data values themselves is needed.
    """
    n, m = len(ref_sorted), len(cur_sorted)
    if n == m:
        return float(np.mean(np.abs(ref_sorted - cur_sorted)))
    grid = np.sort(np.concatenate([np.arange(n, dtype=np.int64) * m,
                                   np.arange(m, dtype=np.int64) * n]))
    widths = np.diff(np.append(grid, np.int64(n) * m)).astype(np.float64)
    iu = np.minimum(grid // m, n - 1)
    iv = np.minimum(grid // n, m - 1)
    return float(np.dot(widths, np.abs(ref_sorted[iu] - cur_sorted[iv])) / (float(n) * m))


def wasserstein_normed(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """W1 divided by the reference's standard deviation (floored at 0.001), as Evidently does.

    The normalisation makes one threshold (0.1 = a tenth of a standard deviation) meaningful
    for every feature whatever its unit.
    """
    return wasserstein_sorted(ref_sorted, cur_sorted) / max(float(np.std(ref_sorted)), 0.001)


def category_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Counts of each category over the union of both samples: (ref_counts, cur_counts, labels).

    Numeric arrays go through np.unique (cheap on the few-valued columns this serves); other
    arrays through pandas' hash-based value_counts, which beats sorting a million strings.
    """
    if ref.dtype.kind in "fiub" and cur.dtype.kind in "fiub":
        r_vals, r_cnt = np.unique(ref, return_counts=True)
        c_vals, c_cnt = np.unique(cur, return_counts=True)
        labels = np.union1d(r_vals, c_vals)
        rc = np.zeros(len(labels), np.int64)
        cc = np.zeros(len(labels), np.int64)
        rc[np.searchsorted(labels, r_vals)] = r_cnt
        cc[np.searchsorted(labels, c_vals)] = c_cnt
        return rc, cc, labels.tolist()
    import pandas as pd

    r = pd.Series(ref).value_counts(dropna=True)
    c = pd.Series(cur).value_counts(dropna=True)
    both = pd.concat([r, c], axis=1).fillna(0)
    return (both.iloc[:, 0].to_numpy(np.int64), both.iloc[:, 1].to_numpy(np.int64),
            [str(x) for x in both.index])


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x k table of counts: (statistic, p-value).

    A homogeneity test (not goodness-of-fit against the reference's proportions) because the
    reference is a sample too; treating it as exact inflates the false-alarm rate on small data.
    """
    from scipy import stats

    keep = (ref_counts + cur_counts) > 0
    table = np.vstack([ref_counts[keep], cur_counts[keep]])
    if table.shape[1] < 2:
        return 0.0, 1.0
    res = stats.chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue)


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log), as scipy.spatial.distance.jensenshannon.

    Written out in numpy because importing scipy.spatial costs a cron check more than a second.
    """
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2.0

    def rel_entr(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))

    return float(np.sqrt(max(rel_entr(p) + rel_entr(q), 0.0) / 2.0))


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, floor: float = 1e-4) -> float:
    """Population Stability Index: sum((c - r) * ln(c / r)) over bins, empty bins floored.

    The floor (0.0001, the industry convention) keeps a bin that is empty on one side finite.
    """
    r = np.maximum(ref_counts / ref_counts.sum(), floor)
    c = np.maximum(cur_counts / cur_counts.sum(), floor)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_histograms(ref_sorted: np.ndarray, cur_sorted: np.ndarray,
                       bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples on shared equal-width bins (Sturges' rule on the pooled size).

    Sorted inputs give the pooled range in O(1) and let bins be counted by searchsorted.
    """
    lo = min(ref_sorted[0], cur_sorted[0])
    hi = max(ref_sorted[-1], cur_sorted[-1])
    k = bins or int(math.ceil(math.log2(len(ref_sorted) + len(cur_sorted)) + 1))
    if hi <= lo:
        return np.array([len(ref_sorted)]), np.array([len(cur_sorted)])
    edges = np.linspace(lo, hi, k + 1)
    inner = edges[1:-1]
    rc = np.diff(np.concatenate([[0], np.searchsorted(ref_sorted, inner, "left"), [len(ref_sorted)]]))
    cc = np.diff(np.concatenate([[0], np.searchsorted(cur_sorted, inner, "left"), [len(cur_sorted)]]))
    return rc, cc


def _rbf_kernel(z: np.ndarray) -> np.ndarray:
    """Gaussian kernel matrix with the median-heuristic bandwidth (a common, tuning-free choice)."""
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    off = d2[np.triu_indices_from(d2, k=1)]
    med = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    return np.exp(-d2 / med)


def _mmd2_unbiased(k: np.ndarray, groups: np.ndarray, n: int, m: int) -> np.ndarray:
    """Unbiased MMD^2 for each row of `groups` (1 = reference member); vectorised over permutations."""
    a = groups.astype(np.float64)
    b = 1.0 - a
    ka = k @ a.T
    kb = k @ b.T
    xx = (np.einsum("ij,ji->i", a, ka) - n) / (n * (n - 1))
    yy = (np.einsum("ij,ji->i", b, kb) - m) / (m * (m - 1))
    xy = np.einsum("ij,ji->i", a, kb) / (n * m)
    return xx + yy - 2.0 * xy


def mmd_test(ref: np.ndarray, cur: np.ndarray, n_permutations: int = 200,
             subsample: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Multivariate MMD (Gaussian kernel) with a permutation p-value on at most `subsample` rows each.

    The kernel matrix is quadratic in the rows, so both sides are randomly subsampled (documented
    as part of the result); features are standardised by the reference so no unit dominates.
    p = (1 + #{permuted MMD^2 >= observed}) / (1 + permutations).
    """
    rng = np.random.default_rng(seed)
    ref = _subsample(np.asarray(ref, np.float64), subsample, rng)
    cur = _subsample(np.asarray(cur, np.float64), subsample, rng)
    ref, cur = ref.reshape(len(ref), -1), cur.reshape(len(cur), -1)
    mu, sd = ref.mean(axis=0), ref.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.vstack([(ref - mu) / sd, (cur - mu) / sd])
    n, m = len(ref), len(cur)
    k = _rbf_kernel(z)
    observed = np.zeros((1, n + m), bool)
    observed[0, :n] = True
    perms = np.zeros((n_permutations, n + m), bool)
    for i in range(n_permutations):
        perms[i, rng.permutation(n + m)[:n]] = True
    stat = float(_mmd2_unbiased(k, observed, n, m)[0])
    null = _mmd2_unbiased(k, perms, n, m)
    p = (1.0 + float(np.sum(null >= stat))) / (1.0 + n_permutations)
    return {"test": "mmd", "statistic": stat, "p_value": p, "n_permutations": n_permutations,
            "n_reference_used": n, "n_current_used": m, "kernel": "rbf(median heuristic)"}


def domain_classifier_test(ref: np.ndarray, cur: np.ndarray, subsample: int = 5000,
                           seed: int = 0, folds: int = 5) -> dict[str, Any]:
    """Can a classifier tell reference rows from current rows? Out-of-fold ROC AUC + p-value.

    AUC 0.5 means indistinguishable. The p-value is the one-sided Mann-Whitney test on the
    out-of-fold scores (AUC = U / (n*m)), so the AUC is judged against its own sampling noise.
    Gradient-boosted trees catch non-linear and interaction shifts that per-feature tests miss.
    """
    from scipy import stats
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    ref = _subsample(np.asarray(ref, np.float64), subsample, rng)
    cur = _subsample(np.asarray(cur, np.float64), subsample, rng)
    x = np.vstack([ref.reshape(len(ref), -1), cur.reshape(len(cur), -1)])
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # One OpenMP thread: on a busy node (cron jobs share it) spinning thread pools of a
    # model this small cost far more than they give.
    with threadpool_limits(1):
        scores = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    u = stats.mannwhitneyu(scores[y == 1], scores[y == 0], alternative="greater")
    auc = float(u.statistic) / (len(cur) * len(ref))
    return {"test": "domain_classifier", "statistic": auc, "p_value": float(u.pvalue),
            "n_reference_used": len(ref), "n_current_used": len(cur), "folds": folds,
            "classifier": "HistGradientBoostingClassifier"}


def _subsample(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random rows without replacement when there are more than `size` (order is irrelevant)."""
    if len(x) <= size:
        return x
    return x[rng.choice(len(x), size=size, replace=False)]
