"""Two merged profiles -> the drift section, by the same rules as the exact comparison.

The default test of a feature is the exact check's table (`dii_hpc.drift.compare`): Wasserstein
and Jensen-Shannon above ``large_sample`` reference rows, KS and chi-square below; a test is
taken from its `StatTest` record's ``sketch`` function (KS, Wasserstein, PSI, Jensen-Shannon,
chi-square are built in; a plug-in test without one is refused by name). Each feature result
keeps ``error``, the sketch's bound on its statistic, and the section's ``sketch`` part the KLL
``k`` and rank errors; correction and the batch rule are the exact check's own functions.
"""

from __future__ import annotations

from dii_hpc.drift import compare
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import quality
from dii_hpc.drift.sketch.profile import TableSketch
from dii_hpc.drift.sketch.tests import SketchPair
from dii_hpc.drift.stattest import STAT_TESTS
from dii_hpc.errors import BadInput
from dii_hpc.records.drift import DriftSection, FeatureResult, SketchInfo


def default_test(pair: SketchPair, opt: DriftOptions) -> str:
    """`compare.default_test` for sketches (distinct values: exact while there are few)."""
    small = pair.n_reference <= opt.large_sample
    continuous = pair.numeric and not pair.few_valued()
    if pair.numeric and not small and not continuous:
        both = pair.distinct_both()
        continuous = both is None or both > opt.few_values
    return compare.DEFAULT_TESTS[(small, continuous)]


def _columns(ref: TableSketch, cur: TableSketch, opt: DriftOptions, ref_name: str,
             cur_name: str, usable: list[str]) -> list[str]:
    """The columns to compare: those the data-quality rules left (a missing, renamed,
    retyped or emptied column is a rule's failure); names and profiling errors are bad input."""
    ignore = set(opt.not_features)
    if not [c for c in ref.columns if c not in ignore]:
        raise BadInput(f"{ref_name}: no columns to compare")
    for what, names in (("test override", list(opt.tests)), ("categorical", opt.categorical)):
        unknown = [n for n in names if n not in ref.columns or n in ignore]
        if unknown:
            raise BadInput(f"{what} names no column of {ref_name}: {', '.join(unknown)}")
    for c in usable:
        r, k = ref.columns[c], cur.columns[c]
        if r.kind != k.kind:  # the type rule switched off
            raise BadInput(f"{cur_name}: column {c!r} is {k.kind} where {ref_name} has {r.kind}")
        if c in opt.categorical and r.kind != "categorical":
            raise BadInput(f"column {c!r} was profiled as numeric: profile it again with "
                           f"--categorical {c}")
        for side, col in ((ref_name, r), (cur_name, k)):
            if col.n == 0:
                raise BadInput(f"{side}: column {c!r} is all NaN")
    return usable


def feature_result(name: str, pair: SketchPair, opt: DriftOptions) -> FeatureResult:
    """One feature from its two sketches, judged by the check's threshold for its test."""
    test = STAT_TESTS.get(opt.tests.get(name) or default_test(pair, opt))
    if not test.applies_to(pair.kind):
        raise BadInput(f"feature {name!r} is {pair.kind}; test {test.name!r} takes "
                       f"{' or '.join(sorted(test.kinds))} features")
    if test.sketch is None:
        usable = [n for n, e in STAT_TESTS.entries().items() if e.record.sketch is not None]
        raise BadInput(f"test {test.name!r} has no sketch form; with --sketch use one of "
                       f"{', '.join(usable)}")
    score = test.sketch(pair)
    threshold = opt.threshold(test)
    return FeatureResult(
        type=pair.kind, test=test.name, statistic=float(score.statistic),
        p_value=None if score.p_value is None else float(score.p_value), threshold=threshold,
        drift=test.drifted(score, threshold), n_reference=pair.n_reference,
        n_current=pair.n_current, error=None if score.error is None else float(score.error))


def compare_profiles(ref: TableSketch, cur: TableSketch, opt: DriftOptions,
                     ref_name: str = "reference", cur_name: str = "current") -> DriftSection:
    """The drift section of two profiles (features only: multivariate tests need rows), with
    the data-quality rules that sketches answer (`dii_hpc.drift.sketch.quality`)."""
    if opt.mmd or opt.classifier or opt.rule != "share":
        raise BadInput("--mmd, --classifier and their rules need rows: drop --sketch "
                       "(or sample the data) for multivariate tests")
    results, usable, unchecked = quality.run(ref, cur, opt, ref_name, cur_name)
    cols = _columns(ref, cur, opt, ref_name, cur_name, usable)
    features = {c: feature_result(c, SketchPair(ref.columns[c].kind, ref.columns[c],
                                                cur.columns[c], opt.few_values), opt)
                for c in cols}
    compare.apply_correction(features, opt)
    section = compare.verdict(features, opt, ref.rows, cur.rows)
    section.data_quality = results
    section.sketch = SketchInfo(
        k=min(ref.k, cur.k),
        rank_error_reference=max((ref.columns[c].rank_error() for c in cols), default=0.0),
        rank_error_current=max((cur.columns[c].rank_error() for c in cols), default=0.0),
        reference_files=max(1, len(ref.sources)), current_files=max(1, len(cur.sources)),
        quality_unchecked=unchecked)
    return section


def section_of(ref: TableSketch, cur: TableSketch, opt: DriftOptions, ref_name: str,
               cur_name: str) -> DriftSection:
    """Features, then the prediction column's drift when the options name one."""
    section = compare_profiles(ref, cur, opt, ref_name, cur_name)
    section.data_drift = section.drift
    col = opt.prediction_column
    if col and col in ref.columns and col in cur.columns:
        pair = SketchPair(ref.columns[col].kind, ref.columns[col], cur.columns[col],
                          opt.few_values)
        section.prediction = feature_result("prediction", pair, opt)
        section.drift = section.drift or section.prediction.drift
    elif col:
        raise BadInput(f"no prediction column {col!r} in both profiles")
    return section
