"""Statistics shared by the suites: exact binomial intervals, ROC summaries.

(A suite's grade is its record's `specs.Grading`, its thresholds documented there.)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def clopper_pearson(successes: int, n: int, alpha: float = 0.05) -> list[float]:
    """Exact two-sided (1 - alpha) interval for a binomial rate; [0, 1] when n == 0.

    The Clopper-Pearson bounds are beta quantiles, taken from scipy's inverse regularized
    incomplete beta function: the same interval as scipy's
    ``binomtest(...).proportion_ci(method="exact")`` (to 1e-11), which finds it by root
    search at ~2 ms an interval, where an evasion score needs three per attack.
    """
    from scipy.special import betaincinv

    k, n = int(successes), int(n)
    if n == 0:
        return [0.0, 1.0]
    lo = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    hi = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return [lo, hi]


def rate_interval(flags: np.ndarray) -> list[float]:
    flags = np.asarray(flags, dtype=bool)
    return clopper_pearson(int(flags.sum()), int(flags.size))


def roc_summary(is_member: np.ndarray, score: np.ndarray, max_points: int = 200) -> dict[str, Any]:
    """AUC, TPR at 1% / 0.1% FPR and a thinned ROC curve (higher score = 'member')."""
    from sklearn.metrics import roc_auc_score, roc_curve

    is_member = np.asarray(is_member).astype(int)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=0.0, posinf=1e300,
                          neginf=-1e300)
    fpr, tpr, _ = roc_curve(is_member, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points)).astype(int))
    return {
        "auc": float(roc_auc_score(is_member, score)),
        "tpr_at_1pct_fpr": tpr_at_fpr(fpr, tpr, 0.01),
        "tpr_at_0.1pct_fpr": tpr_at_fpr(fpr, tpr, 0.001),
        "fpr": [float(v) for v in fpr[keep]],
        "tpr": [float(v) for v in tpr[keep]],
    }


def auc_interval(is_member: np.ndarray, score: np.ndarray, seed: int,
                 level: float = 0.95, n_resamples: int = 1000) -> list[float]:
    """Percentile bootstrap interval for the ROC AUC, members and non-members resampled
    separately (the design fixes both counts); `seed` makes it reproducible.

    Chosen over DeLong because it needs no normal approximation, which fails exactly where
    it matters here: few samples and AUCs near 1. [0, 1] when a side is empty."""
    import warnings

    from scipy.stats import bootstrap, mannwhitneyu

    is_member = np.asarray(is_member).astype(bool)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=0.0, posinf=1e300,
                          neginf=-1e300)
    inside, outside = score[is_member], score[~is_member]
    if not len(inside) or not len(outside):
        return [0.0, 1.0]

    def auc(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        # Mann-Whitney U / (n1 n2), ties counted 1/2: exactly sklearn's roc_auc_score
        u = mannwhitneyu(a, b, axis=axis, method="asymptotic").statistic
        return u / (a.shape[axis] * b.shape[axis])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant score: the interval is one point
        res = bootstrap((inside, outside), auc, n_resamples=n_resamples, confidence_level=level,
                        method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return [float(np.nan_to_num(lo, nan=0.5)), float(np.nan_to_num(hi, nan=0.5))]


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """Best TPR reachable without exceeding `target` FPR (the low-FPR regime that matters)."""
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def balanced_accuracy(is_member: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of TPR and TNR: 0.5 is a coin flip whatever the member/non-member ratio."""
    is_member = np.asarray(is_member).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    tpr = predicted[is_member].mean() if is_member.any() else 0.0
    tnr = (~predicted[~is_member]).mean() if (~is_member).any() else 0.0
    return float((tpr + tnr) / 2)


LOW_FPR = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001, "tpr_at_0pct_fpr": 0.0}


def low_fpr(is_member: np.ndarray, score: np.ndarray) -> dict[str, dict[str, Any]]:
    """TPR at 1%, 0.1% and 0% FPR (the regime that matters for membership), each with the
    Clopper-Pearson interval of its member count and the FPR reached there with its own.

    Where the two intervals overlap the attack is not shown to beat a coin that says
    "member" at that rate; with n non-members an FPR below 1/n is only resolved to
    [0, ~3.7/n], which is why 0% FPR carries the interval of the FPR beside it."""
    from sklearn.metrics import roc_curve

    is_member = np.asarray(is_member).astype(bool)
    n_in, n_out = int(is_member.sum()), int((~is_member).sum())
    fpr, tpr, _ = roc_curve(is_member.astype(int), _finite(score))
    out = {}
    for name, target in LOW_FPR.items():
        ok = fpr <= target + 1e-12
        k = int(np.argmax(np.where(ok, tpr, -1.0)))
        tp, fp = round(tpr[k] * n_in), round(fpr[k] * n_out)
        out[name] = {"target_fpr": target, "tpr": float(tpr[k]), "fpr": float(fpr[k]),
                     "tpr_interval": clopper_pearson(tp, n_in),
                     "fpr_interval": clopper_pearson(fp, n_out)}
    return out


def log_roc(is_member: np.ndarray, score: np.ndarray, points: int = 120) -> dict[str, Any]:
    """The ROC thinned on a log grid of FPR (what a log-log plot needs: the points near
    FPR 1/n, which an evenly thinned curve drops), starting at the smallest FPR reached."""
    from sklearn.metrics import roc_auc_score, roc_curve

    is_member = np.asarray(is_member).astype(int)
    fpr, tpr, _ = roc_curve(is_member, _finite(score))
    n_out = max(int((is_member == 0).sum()), 1)
    grid = np.unique(np.r_[np.logspace(np.log10(1.0 / n_out), 0.0, points), fpr[fpr > 0][:1]])
    best = np.maximum.accumulate(tpr)
    at = np.searchsorted(fpr, grid + 1e-12, side="right") - 1
    return {"fpr": [float(v) for v in grid], "tpr": [float(best[i]) for i in at],
            "auc": float(roc_auc_score(is_member, _finite(score))), "axes": "log"}


def _finite(score: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(score, dtype=np.float64), nan=0.0, posinf=1e300,
                         neginf=-1e300)
