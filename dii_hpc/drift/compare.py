"""Compare a current batch with a reference: one test per feature, then the batch verdict.

Default test per feature (Evidently's data-drift preset rules, the common practice):

| reference rows | feature                                   | test                     | drift when     |
|----------------|-------------------------------------------|--------------------------|----------------|
| <= 1000        | numeric, > 5 distinct values              | Kolmogorov-Smirnov       | p < alpha      |
| <= 1000        | categorical, or numeric with <= 5 values  | chi-square (2 x k table) | p < alpha      |
| > 1000         | numeric, > 5 distinct values              | Wasserstein / std(ref)   | >= 0.1         |
| > 1000         | categorical, or numeric with <= 5 values  | Jensen-Shannon distance  | >= 0.1         |

(Evidently uses a proportion z-test for binary features on small samples; chi-square on a 2 x 2
table is the same test.) Any feature can be given another test (ks, chisquare, wasserstein,
jensenshannon, psi). On large samples p-values flag negligible shifts, which is why distances
with thresholds are used there. With a correction (bonferroni or bh) the p-values are adjusted
over all p-value tests of the batch before comparing with alpha.

Batch rule: "share" (default) -> drifted when share of drifted features >= drift_share (0.5);
"mmd" / "classifier" -> drifted when that multivariate test's p-value < alpha.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from dii_hpc.drift import stats
from dii_hpc.drift.io import check_pair, is_numeric
from dii_hpc.drift.options import NUMERIC_ONLY, P_VALUE_TESTS, DriftOptions
from dii_hpc.errors import BadInput


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def sorted_clean(values: np.ndarray) -> np.ndarray:
    """Sorted float64 copy without NaNs (np.sort puts them last, so they are cut off the end)."""
    s = np.sort(np.asarray(values, dtype=np.float64))
    if len(s) and np.isnan(s[-1]):
        s = s[: len(s) - int(np.count_nonzero(np.isnan(s)))]
    return s


def _n_distinct(s: np.ndarray, limit: int) -> int:
    """Distinct values of a sorted array (exact up to limit + 1, which is all the rules need)."""
    return 1 + int(np.count_nonzero(s[1:] != s[:-1])) if len(s) else 0


def default_test(numeric: bool, ref: np.ndarray, cur: np.ndarray, opt: DriftOptions) -> str:
    """The test the table in this module's docstring picks for one feature."""
    small = len(ref) <= opt.large_sample
    if numeric:
        few = _n_distinct(ref, opt.few_values) <= opt.few_values
        if not small and few:
            few = len(np.union1d(np.unique(ref), np.unique(cur))) <= opt.few_values
        if not few:
            return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


def _counts(numeric: bool, ref: np.ndarray, cur: np.ndarray,
            opt: DriftOptions) -> tuple[np.ndarray, np.ndarray]:
    """Histogram counts for count-based tests: categories, or shared bins for continuous data."""
    if numeric and _n_distinct(ref, opt.few_values) > opt.few_values:
        return stats.numeric_histograms(ref, cur)
    rc, cc, _ = stats.category_counts(ref, cur)
    return rc, cc


def run_test(test: str, numeric: bool, ref: np.ndarray, cur: np.ndarray,
             opt: DriftOptions) -> tuple[float, float | None, float]:
    """(statistic, p-value or None, threshold) of one named test; numeric inputs are sorted."""
    if test == "ks":
        d, p = stats.ks_sorted(ref, cur)
        return d, p, opt.alpha
    if test == "wasserstein":
        return stats.wasserstein_normed(ref, cur), None, opt.wasserstein_threshold
    rc, cc = _counts(numeric, ref, cur, opt)
    if test == "chisquare":
        chi, p = stats.chi_square(rc, cc)
        return chi, p, opt.alpha
    if test == "jensenshannon":
        return stats.jensen_shannon(rc, cc), None, opt.jensenshannon_threshold
    return stats.psi(rc, cc), None, opt.psi_threshold


def feature_result(name: str, numeric: bool, ref: np.ndarray, cur: np.ndarray,
                   opt: DriftOptions) -> dict[str, Any]:
    """Test one feature; `ref`/`cur` are NaN-free (sorted when numeric)."""
    test = opt.tests.get(name) or default_test(numeric, ref, cur, opt)
    if test in NUMERIC_ONLY and not numeric:
        raise BadInput(f"feature {name!r} is categorical; test {test!r} needs numbers")
    statistic, p, threshold = run_test(test, numeric, ref, cur, opt)
    drift = (p < threshold) if p is not None else (statistic >= threshold)
    return {"type": "numeric" if numeric else "categorical", "test": test,
            "statistic": float(statistic), "p_value": p, "threshold": threshold,
            "drift": bool(drift), "n_reference": int(len(ref)), "n_current": int(len(cur))}


def _numeric_pair(ref: Any, cur: Any, name: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    r, c = sorted_clean(ref[col].to_numpy()), sorted_clean(cur[col].to_numpy())
    if not len(r) or not len(c):
        raise BadInput(f"{name}: column {col!r} is all NaN")
    return r, c


def apply_correction(features: dict[str, dict[str, Any]], opt: DriftOptions) -> None:
    """Adjust the p-values of the batch's p-value tests for multiple testing (in place)."""
    names = [n for n, f in features.items() if f["test"] in P_VALUE_TESTS]
    if opt.correction is None or not names:
        return
    from scipy import stats as sps

    p = np.array([features[n]["p_value"] for n in names], dtype=np.float64)
    adj = np.minimum(p * len(p), 1.0) if opt.correction == "bonferroni" else \
        sps.false_discovery_control(p, method="bh")
    for n, a in zip(names, adj, strict=True):
        features[n]["p_adjusted"] = float(a)
        features[n]["drift"] = bool(a < opt.alpha)


def compare_frames(ref: Any, cur: Any, opt: DriftOptions, ref_name: str = "reference",
                   cur_name: str = "current") -> dict[str, Any]:
    """The drift section (see DEVELOPERS.md / the report) for two pandas DataFrames."""
    cols = check_pair(ref, cur, ref_name, cur_name, opt.ignore, opt.categorical)
    for what, names in (("test override", opt.tests), ("categorical", opt.categorical)):
        unknown = [n for n in names if n not in cols]
        if unknown:
            raise BadInput(f"{what} names no column of {ref_name}: {', '.join(unknown)}")
    numeric = [c for c in cols if c not in opt.categorical and is_numeric(ref[c])]
    cat = [c for c in cols if c not in numeric]

    def one(col: str) -> tuple[str, dict[str, Any]]:
        r, c = _numeric_pair(ref, cur, ref_name, col)
        return col, feature_result(col, True, r, c, opt)

    with ThreadPoolExecutor(_threads()) as pool:
        found = dict(pool.map(one, numeric))
    for col in cat:
        r, c = ref[col].dropna().to_numpy(), cur[col].dropna().to_numpy()
        found[col] = feature_result(col, False, r, c, opt)
    features = {c: found[c] for c in cols}
    apply_correction(features, opt)
    section = verdict(features, opt, len(ref), len(cur))
    if opt.mmd or opt.classifier:
        section["multivariate"] = multivariate(ref[numeric], cur[numeric], opt)
        section["drift"] = batch_drift(section, opt)
    return section


def verdict(features: dict[str, dict[str, Any]], opt: DriftOptions, n_ref: int,
            n_cur: int) -> dict[str, Any]:
    """The batch-level part of the section from the per-feature results."""
    n_drifted = sum(f["drift"] for f in features.values())
    share = n_drifted / len(features) if features else 0.0
    section: dict[str, Any] = {
        "monitor": None, "drift": bool(features) and share >= opt.drift_share,
        "rule": opt.rule_text(), "share_drifted": share, "n_drifted": n_drifted,
        "n_features": len(features), "n_reference": int(n_ref), "n_current": int(n_cur),
        "alpha": opt.alpha, "correction": opt.correction, "features": features,
    }
    return section


def batch_drift(section: dict[str, Any], opt: DriftOptions) -> bool:
    """Apply the batch rule once every part of the section is known."""
    if opt.rule == "share":
        return bool(section["n_features"]) and section["share_drifted"] >= opt.drift_share
    key = "mmd" if opt.rule == "mmd" else "domain_classifier"
    part = section.get("multivariate", {}).get(key)
    return bool(part and part["drift"])


def multivariate(ref: Any, cur: Any, opt: DriftOptions) -> dict[str, Any]:
    """MMD and/or domain-classifier tests on the numeric features (rows with NaN dropped)."""
    if ref.shape[1] == 0:
        raise BadInput("multivariate tests need numeric features; none found")
    r = ref.to_numpy(np.float64)
    c = cur.to_numpy(np.float64)
    return multivariate_arrays(r[~np.isnan(r).any(axis=1)], c[~np.isnan(c).any(axis=1)], opt)


def multivariate_arrays(r: np.ndarray, c: np.ndarray, opt: DriftOptions) -> dict[str, Any]:
    """The multivariate part for two row matrices (features or model embeddings)."""
    out: dict[str, Any] = {}
    if opt.mmd:
        res = stats.mmd_test(r, c, opt.mmd_permutations, opt.mmd_subsample, opt.seed)
        out["mmd"] = {**res, "threshold": opt.alpha, "drift": bool(res["p_value"] < opt.alpha)}
    if opt.classifier:
        res = stats.domain_classifier_test(r, c, opt.classifier_subsample, opt.seed)
        out["domain_classifier"] = {**res, "threshold": opt.alpha,
                                    "drift": bool(res["p_value"] < opt.alpha)}
    return out
