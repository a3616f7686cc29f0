"""Stat tests are records: the check takes everything from the record (features it applies to,
function, default threshold, p-value or distance), so a new test is one record and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from dii_hpc.drift.compare import compare_frames
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.stattest import NUMERIC, STAT_TESTS, Pair, Score, StatTest
from dii_hpc.errors import BadInput
from dii_hpc.plugins import BUILTIN


@pytest.fixture()
def family() -> Iterator[None]:
    STAT_TESTS.reset()
    yield
    STAT_TESTS.reset()


def frames(n: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n),
                        "c": rng.choice(["u", "v"], n)})
    cur = pd.DataFrame({"a": rng.normal(0.8, 1, n), "b": rng.normal(0, 1, n),
                        "c": rng.choice(["u", "v"], n)})
    ref.loc[::7, "a"] = np.nan
    return ref, cur


def test_builtins_are_one_record_each() -> None:
    entries = STAT_TESTS.entries()
    assert {n for n, e in entries.items() if e.origin == BUILTIN} == \
        {"ks", "chisquare", "wasserstein", "jensenshannon", "psi"}
    assert [t.name for t in STAT_TESTS.records(lambda t: t.p_value)] == ["chisquare", "ks"]
    assert {t.name for t in STAT_TESTS.records(lambda t: t.kinds == NUMERIC)} == \
        {"ks", "wasserstein"}


def test_a_registered_test_is_used_by_name_with_its_own_threshold(family: None) -> None:
    """A distance test given only as a record: the check sorts its numbers once and judges it
    by the record's threshold, or by `<name>_threshold` of the options."""
    seen: list[Pair] = []

    def mean_gap(pair: Pair) -> Score:
        seen.append(pair)
        return Score(abs(float(pair.current.mean() - pair.reference.mean())))

    STAT_TESTS.register(StatTest(name="mean_gap", kinds=NUMERIC, function=mean_gap,
                                 threshold=0.5, p_value=False, doc="gap of the means"))
    ref, cur = frames()
    sec = compare_frames(ref, cur, DriftOptions.from_mapping({"tests": {"a": "mean_gap",
                                                                        "b": "mean_gap"}}))
    a, b = sec.features["a"], sec.features["b"]
    assert (a.test, a.threshold, a.p_value, a.drift, b.drift) == ("mean_gap", 0.5, None, True, False)
    assert a.n_reference == 400 - len(range(0, 400, 7))
    assert all(p.numeric and np.all(np.diff(p.reference) >= 0) and not np.isnan(p.reference).any()
               for p in seen)
    strict = DriftOptions.from_mapping({"tests": {"a": "mean_gap"}, "mean_gap_threshold": 5.0})
    assert compare_frames(ref, cur, strict).features["a"].drift is False
    with pytest.raises(BadInput, match="feature 'c' is categorical; test 'mean_gap' takes numeric"):
        compare_frames(ref, cur, DriftOptions.from_mapping({"tests": {"c": "mean_gap"}}))


def test_p_value_tests_take_alpha_or_their_own_threshold() -> None:
    ref, cur = frames()
    plain = compare_frames(ref, cur, DriftOptions()).features
    assert plain["a"].test == "ks" and plain["a"].threshold == 0.05
    strict = compare_frames(ref, cur, DriftOptions(alpha=0.001)).features
    assert strict["a"].threshold == 0.001 and strict["c"].threshold == 0.001
    own = compare_frames(ref, cur, DriftOptions.from_mapping(
        {"alpha": 0.01, "chisquare_threshold": 0.2})).features
    assert own["a"].threshold == 0.01 and own["c"].threshold == 0.2
    corrected = compare_frames(ref, cur, DriftOptions(correction="bonferroni",
                                                      thresholds={"ks": 0.2})).features
    assert corrected["b"].drift == (corrected["b"].p_adjusted < 0.2)


def test_counts_are_made_once_per_feature() -> None:
    ref = np.sort(np.random.default_rng(0).normal(size=500))
    few = np.sort(np.random.default_rng(1).integers(0, 3, 500).astype(float))
    pair = Pair("numeric", ref, ref + 0.1)
    assert pair.counts() is pair.counts() and len(pair.counts()[0]) > 5  # bins
    rc, cc = Pair("numeric", few, few).counts()
    assert list(rc) == list(cc) and len(rc) == 3  # few values: categories
