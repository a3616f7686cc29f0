"""Compare a current batch with a reference: one test per feature, then the batch verdict.

Default test per feature (Evidently's data-drift preset rules, the common practice):

| reference rows | feature                                   | test                     | drift when     |
|----------------|-------------------------------------------|--------------------------|----------------|
| <= 1000        | numeric, > 5 distinct values              | Kolmogorov-Smirnov       | p < alpha      |
| <= 1000        | categorical, or numeric with <= 5 values  | chi-square (2 x k table) | p < alpha      |
| > 1000         | numeric, > 5 distinct values              | Wasserstein / std(ref)   | >= 0.1         |
| > 1000         | categorical, or numeric with <= 5 values  | Jensen-Shannon distance  | >= 0.1         |

(Evidently uses a proportion z-test for binary features on small samples; chi-square on a 2 x 2
table is the same test.) Any feature can be given another installed test (a `StatTest` record:
a built-in of `dii_hpc.drift.stattests` or a plug-in's; `dii-hpc drift tests` lists them);
everything a test needs (the features it takes, its function, its default threshold, p-value
or distance) comes from its record. On large samples p-values flag
negligible shifts, which is why distances with thresholds are used there. With a correction
(bonferroni or bh) the p-values are adjusted over all p-value tests of the batch before
comparing with their threshold (alpha).

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
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.stattest import STAT_TESTS, FeatureKind, Pair, StatTest
from dii_hpc.errors import BadInput
from dii_hpc.records.drift import DriftSection, FeatureResult, StatResult

# The default test of a feature: (reference is small, feature is continuous numeric) -> test.
DEFAULT_TESTS = {(True, True): "ks", (True, False): "chisquare",
                 (False, True): "wasserstein", (False, False): "jensenshannon"}


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


def default_test(pair: Pair, opt: DriftOptions) -> str:
    """The test the table in this module's docstring picks for one feature."""
    small = len(pair.reference) <= opt.large_sample
    continuous = pair.numeric and not pair.few_valued()
    if pair.numeric and not small and not continuous:  # few values in the reference: and now?
        both = np.union1d(np.unique(pair.reference), np.unique(pair.current))
        continuous = len(both) > opt.few_values
    return DEFAULT_TESTS[(small, continuous)]


def feature_result(name: str, kind: FeatureKind, ref: np.ndarray, cur: np.ndarray,
                   opt: DriftOptions) -> FeatureResult:
    """Test one feature; `ref`/`cur` are NaN-free (sorted when numeric)."""
    pair = Pair(kind, ref, cur, opt.few_values)
    test = STAT_TESTS.get(opt.tests.get(name) or default_test(pair, opt))
    if not test.applies_to(kind):
        raise BadInput(f"feature {name!r} is {kind}; test {test.name!r} takes "
                       f"{' or '.join(sorted(test.kinds))} features")
    return judge(test, pair, opt)


def judge(test: StatTest, pair: Pair, opt: DriftOptions) -> FeatureResult:
    """Run ``test`` on ``pair`` and judge it by the check's threshold for that test."""
    score = test.function(pair)
    threshold = opt.threshold(test)
    return FeatureResult(
        type=pair.kind, test=test.name, statistic=float(score.statistic),
        p_value=None if score.p_value is None else float(score.p_value), threshold=threshold,
        drift=test.drifted(score, threshold), n_reference=int(len(pair.reference)),
        n_current=int(len(pair.current)))


def _numeric_pair(ref: Any, cur: Any, name: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    r, c = sorted_clean(ref[col].to_numpy()), sorted_clean(cur[col].to_numpy())
    if not len(r) or not len(c):
        raise BadInput(f"{name}: column {col!r} is all NaN")
    return r, c


def apply_correction(features: dict[str, FeatureResult], opt: DriftOptions) -> None:
    """Adjust the p-values of the batch's p-value tests for multiple testing (in place)."""
    names = [n for n, f in features.items() if STAT_TESTS.get(f.test).p_value]
    if opt.correction is None or not names:
        return
    from scipy import stats as sps

    p = np.array([features[n].p_value for n in names], dtype=np.float64)
    adj = np.minimum(p * len(p), 1.0) if opt.correction == "bonferroni" else \
        sps.false_discovery_control(p, method="bh")
    for n, a in zip(names, adj, strict=True):
        features[n].p_adjusted = float(a)
        features[n].drift = bool(a < features[n].threshold)


def compare_frames(ref: Any, cur: Any, opt: DriftOptions, ref_name: str = "reference",
                   cur_name: str = "current") -> DriftSection:
    """The drift section (`dii_hpc.records.drift`) for two pandas DataFrames."""
    cols = check_pair(ref, cur, ref_name, cur_name, opt.ignore, opt.categorical)
    for what, names in (("test override", opt.tests), ("categorical", opt.categorical)):
        unknown = [n for n in names if n not in cols]
        if unknown:
            raise BadInput(f"{what} names no column of {ref_name}: {', '.join(unknown)}")
    numeric = [c for c in cols if c not in opt.categorical and is_numeric(ref[c])]
    cat = [c for c in cols if c not in numeric]

    def one(col: str) -> tuple[str, FeatureResult]:
        r, c = _numeric_pair(ref, cur, ref_name, col)
        return col, feature_result(col, "numeric", r, c, opt)

    with ThreadPoolExecutor(_threads()) as pool:
        found = dict(pool.map(one, numeric))
    for col in cat:
        r, c = ref[col].dropna().to_numpy(), cur[col].dropna().to_numpy()
        found[col] = feature_result(col, "categorical", r, c, opt)
    features = {c: found[c] for c in cols}
    apply_correction(features, opt)
    section = verdict(features, opt, len(ref), len(cur))
    if opt.mmd or opt.classifier:
        section.multivariate = multivariate(ref[numeric], cur[numeric], opt)
        section.drift = batch_drift(section, opt)
    return section


def verdict(features: dict[str, FeatureResult], opt: DriftOptions, n_ref: int,
            n_cur: int) -> DriftSection:
    """The batch-level part of the section from the per-feature results."""
    n_drifted = sum(f.drift for f in features.values())
    share = n_drifted / len(features) if features else 0.0
    return DriftSection(
        monitor=None, drift=bool(features) and share >= opt.drift_share,
        rule=opt.rule_text(), share_drifted=share, n_drifted=n_drifted,
        n_features=len(features), n_reference=int(n_ref), n_current=int(n_cur),
        alpha=opt.significance, correction=opt.correction, features=features)


def batch_drift(section: DriftSection, opt: DriftOptions) -> bool:
    """Apply the batch rule once every part of the section is known."""
    if opt.rule == "share":
        return bool(section.n_features) and (section.share_drifted or 0.0) >= opt.drift_share
    part = section.multivariate.get("mmd" if opt.rule == "mmd" else "domain_classifier")
    return bool(part and part.drift)


def multivariate(ref: Any, cur: Any, opt: DriftOptions) -> dict[str, StatResult]:
    """MMD and/or domain-classifier tests on the numeric features (rows with NaN dropped)."""
    if ref.shape[1] == 0:
        raise BadInput("multivariate tests need numeric features; none found")
    r = ref.to_numpy(np.float64)
    c = cur.to_numpy(np.float64)
    return multivariate_arrays(r[~np.isnan(r).any(axis=1)], c[~np.isnan(c).any(axis=1)], opt)


def multivariate_arrays(r: np.ndarray, c: np.ndarray, opt: DriftOptions) -> dict[str, StatResult]:
    """The multivariate part for two row matrices (features or model embeddings)."""
    out: dict[str, StatResult] = {}
    if opt.mmd:
        out["mmd"] = judged(stats.mmd_test(r, c, opt.mmd_permutations, opt.mmd_subsample,
                                           opt.seed), opt)
    if opt.classifier:
        out["domain_classifier"] = judged(
            stats.domain_classifier_test(r, c, opt.classifier_subsample, opt.seed), opt)
    return out


def judged(result: dict[str, Any], opt: DriftOptions) -> StatResult:
    """A multivariate test's result (its details kept) judged at the check's alpha."""
    alpha = opt.significance
    return StatResult(**{**result, "threshold": alpha, "drift": bool(result["p_value"] < alpha)})
