"""A drift stat test as one record: what it compares, how, and when it calls a feature drifted.

Why a record: a test used to be spread over three files (the options knew its threshold key and
whether it took numbers, the comparison switched on its name, the statistics held its maths).
Now a `StatTest` carries everything a check needs, the built-ins are one file each under
`dii_hpc.drift.stattests`, and a user's own test is one record registered through the entry-point
group ``dii_hpc.stattests`` (as Evidently registers a ``StatTest``). `STAT_TESTS` finds them all.

A test function gets a `Pair`: one feature's reference and current values with NaNs removed;
numeric values come sorted (each column is sorted once and shared by every test, which is what
keeps a million-row check fast), and ``pair.counts()`` gives the category counts (or the shared
histogram bins of a continuous column) for count-based tests, computed once per feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

from dii_hpc.plugins import Family

FeatureKind = Literal["numeric", "categorical"]
NUMERIC: frozenset[FeatureKind] = frozenset({"numeric"})
ANY_KIND: frozenset[FeatureKind] = frozenset({"numeric", "categorical"})


class Score(NamedTuple):
    """What a test returns: its statistic, and its p-value when it is a p-value test;
    ``error``: from sketches, the bound on |statistic - the exact data's statistic|."""

    statistic: float
    p_value: float | None = None
    error: float | None = None


@dataclass
class Pair:
    """One feature of both batches, as every stat test receives it.

    ``reference`` / ``current``: NaN-free; float64 and sorted when ``kind`` is numeric.
    ``few_values``: numeric columns with at most this many distinct values are counted as
    categories by `counts` (a 0/1 flag has no histogram worth binning).
    """

    kind: FeatureKind
    reference: np.ndarray
    current: np.ndarray
    few_values: int = 5
    _counts: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"

    def distinct(self) -> int:
        """Distinct reference values of a numeric pair (exact up to ``few_values`` + 1)."""
        s = self.reference
        return 1 + int(np.count_nonzero(s[1:] != s[:-1])) if len(s) else 0

    def few_valued(self) -> bool:
        """A numeric column whose values are really categories (judged on the reference)."""
        return self.numeric and self.distinct() <= self.few_values

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(reference counts, current counts) over categories, or shared bins of a continuous
        column; computed once per feature whatever the number of tests that use them."""
        if self._counts is None:
            from dii_hpc.drift import stats

            if self.numeric and not self.few_valued():
                self._counts = stats.numeric_histograms(self.reference, self.current)
            else:
                rc, cc, _ = stats.category_counts(self.reference, self.current)
                self._counts = (rc, cc)
        return self._counts


class StatFunction(Protocol):
    """The function of a stat test (what a plug-in implements)."""

    def __call__(self, pair: Pair) -> Score: ...


class SketchFunction(Protocol):
    """The same test computed from two column sketches (`dii_hpc.drift.sketch.tests.SketchPair`)."""

    def __call__(self, pair: Any) -> Score: ...


@dataclass(frozen=True)
class StatTest:
    """One two-sample drift test.

    ``kinds``: the features it applies to (``numeric``, ``categorical``); ``p_value``: True when
    a feature drifts for p < threshold (the check's ``alpha`` unless a threshold is given for
    this test), False when it drifts for statistic >= threshold (a distance);
    ``threshold``: the default of that threshold; ``doc``: one line for `dii-hpc drift tests`;
    ``sketch``: the test from mergeable sketches (`drift check --sketch`), None when it has none.
    """

    name: str
    kinds: frozenset[FeatureKind]
    function: StatFunction
    threshold: float
    p_value: bool
    doc: str
    sketch: SketchFunction | None = None

    def applies_to(self, kind: FeatureKind) -> bool:
        return kind in self.kinds

    def drifted(self, score: Score, threshold: float) -> bool:
        """The feature's verdict from this test's score."""
        if not self.p_value:
            return score.statistic >= threshold
        if score.p_value is None:
            from dii_hpc.errors import InfraError

            raise InfraError(f"drift test {self.name!r} is a p-value test but returned no p-value")
        return score.p_value < threshold

    def describe_threshold(self) -> str:
        """The rule as the listing shows it: ``p < 0.05`` or ``>= 0.1``."""
        return f"p < {self.threshold:g}" if self.p_value else f">= {self.threshold:g}"


STAT_TESTS: Family[StatTest] = Family("drift test", StatTest, "dii_hpc.stattests",
                                      ["dii_hpc.drift.stattests"])
