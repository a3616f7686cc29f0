"""The drift statistics from two column sketches, each with the error the sketch allows.

A KLL sketch is a weighted sample: its retained values with weights summing to n. Its CDF
``F^(x)`` is off the data's by at most the documented normalised rank error ``eps`` (99 %
confidence, `ColumnSketch.rank_error`), so:

- KS = max |F^_ref - F^_cur| over the union of both sketches' values (where the step functions
  change): within ``eps_ref + eps_cur`` of the exact KS (the stated ``error``). Its p-value is
  scipy's asymptotic formula for the exact row counts (as the exact check's above 10,000 rows)
  at the smallest D the data can have, ``max(D - error, 0)``: on millions of rows the sketch's
  error is larger than the D a p-value test calls significant, so only a gap the sketch proves
  raises the alarm (conservative: a p-value the data's own D would give is at most this one).
- Wasserstein-1 = integral of |F^_ref - F^_cur| dx on the same grid; |W1^ - W1| is at most
  ``(eps_ref + eps_cur) * (max - min)``, divided like the statistic by std(reference) (exact:
  the column keeps its moments).
- PSI, Jensen-Shannon, chi-square: on category counts (exact up to the frequent-items map's
  stated error; numeric columns with few values keep exact counts) or, for a continuous column,
  on the exact check's bins (Sturges on the pooled size, equal width over the pooled exact
  min/max): a bin's share is then within ``2 * eps`` of the exact one.

While a sketch still holds every value (small data: not in estimation mode) the exact
functions of `dii_hpc.drift.stats` run on those values, so small checks agree to the bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dii_hpc.drift.sketch.profile import ColumnSketch
from dii_hpc.drift.stattest import FeatureKind, Score


@dataclass
class SketchPair:
    """One feature of both profiles, as a stat test's ``sketch`` function receives it."""

    kind: FeatureKind
    reference: ColumnSketch
    current: ColumnSketch
    few_values: int = 5
    _counts: tuple[np.ndarray, np.ndarray, float | None] | None = field(default=None, repr=False)

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"

    @property
    def n_reference(self) -> int:
        return self.reference.n

    @property
    def n_current(self) -> int:
        return self.current.n

    def few_valued(self) -> bool:
        """A numeric column whose reference has at most ``few_values`` distinct values."""
        vals = self.reference.values
        return self.numeric and vals is not None and len(vals) <= self.few_values

    def distinct_both(self) -> int | None:
        """Distinct values over both (numeric, while both keep them), else None (many)."""
        a, b = self.reference.values, self.current.values
        return None if a is None or b is None else len(set(a) | set(b))

    def rank_error(self) -> float:
        return self.reference.rank_error() + self.current.rank_error()

    def exact(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Both columns' sorted values when both sketches still hold every value."""
        if not self.numeric or self.rank_error() > 0:
            return None
        return _values(self.reference), _values(self.current)

    def counts(self) -> tuple[np.ndarray, np.ndarray, float | None]:
        """(reference counts, current counts, largest error of a bin's share or None) over
        categories, or the exact check's bins of a continuous column."""
        if self._counts is None:
            if self.numeric and not self.few_valued():
                self._counts = _binned(self)
            else:
                self._counts = _categories(self)
        return self._counts


def _weighted(col: ColumnSketch) -> tuple[np.ndarray, np.ndarray]:
    """The sketch's retained values, sorted, and their weights."""
    pairs = list(col.sketch)
    if not pairs:
        return np.empty(0), np.empty(0)
    items = np.fromiter((p[0] for p in pairs), np.float64, len(pairs))
    weights = np.fromiter((p[1] for p in pairs), np.float64, len(pairs))
    order = np.argsort(items, kind="stable")
    return items[order], weights[order]


def _values(col: ColumnSketch) -> np.ndarray:
    items, weights = _weighted(col)
    return np.repeat(items, weights.astype(np.int64))


def _cdf(items: np.ndarray, weights: np.ndarray, at: np.ndarray, side: str = "right") -> np.ndarray:
    """F^(x) at each ``at`` (share of the weight at values <= x; < x with side 'left')."""
    cum = np.concatenate([[0.0], np.cumsum(weights)])
    return cum[np.searchsorted(items, at, side=side)] / cum[-1]  # type: ignore[call-overload]


def _grid(pair: SketchPair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union grid of both sketches' values and both CDFs on it."""
    ri, rw = _weighted(pair.reference)
    ci, cw = _weighted(pair.current)
    grid = np.union1d(ri, ci)
    return grid, _cdf(ri, rw, grid), _cdf(ci, cw, grid)


def ks(pair: SketchPair) -> Score:
    """Kolmogorov-Smirnov from the sketches; ``error``: eps_ref + eps_cur."""
    from scipy import stats as sps

    from dii_hpc.drift import stats

    both = pair.exact()
    if both is not None:
        d, p = stats.ks_sorted(*both)
        return Score(d, p, 0.0)
    _, fr, fc = _grid(pair)
    d = float(np.max(np.abs(fr - fc)))
    error = pair.rank_error()
    m, n = sorted([float(pair.n_reference), float(pair.n_current)], reverse=True)
    low = max(d - error, 0.0)  # the smallest D the data may have: only a proven gap alarms
    p = float(np.clip(sps.distributions.kstwo.sf(low, np.round(m * n / (m + n))), 0, 1))
    return Score(d, p, error)


def wasserstein(pair: SketchPair) -> Score:
    """Wasserstein-1 / std(reference) from the sketches, with its bound."""
    from dii_hpc.drift import stats

    both = pair.exact()
    if both is not None:
        return Score(stats.wasserstein_normed(*both), None, 0.0)
    grid, fr, fc = _grid(pair)
    w1 = float(np.sum(np.abs(fr[:-1] - fc[:-1]) * np.diff(grid)))
    scale = max(pair.reference.std, 0.001)
    span = max(pair.reference.max, pair.current.max) - min(pair.reference.min, pair.current.min)
    return Score(w1 / scale, None, pair.rank_error() * span / scale)


def _binned(pair: SketchPair) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Counts on the exact check's bins (`stats.numeric_histograms`) from the sketches' CDFs."""
    from dii_hpc.drift import stats

    both = pair.exact()
    if both is not None:
        rc, cc = stats.numeric_histograms(*both)
        return rc, cc, 0.0
    r, c = pair.reference, pair.current
    lo, hi = min(r.min, c.min), max(r.max, c.max)
    if hi <= lo:
        return np.array([r.n]), np.array([c.n]), 0.0
    k = int(math.ceil(math.log2(r.n + c.n) + 1))
    inner = np.linspace(lo, hi, k + 1)[1:-1]
    out = []
    for col in (r, c):
        items, weights = _weighted(col)
        share = np.diff(np.concatenate([[0.0], _cdf(items, weights, inner, "left"), [1.0]]))
        out.append(np.maximum(share, 0.0) * col.n)
    return out[0], out[1], 2.0 * max(r.rank_error(), c.rank_error())


def _categories(pair: SketchPair) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Counts over the union of both columns' categories (values of a few-valued column)."""
    rc, r_err = pair.reference.category_counts()
    cc, c_err = pair.current.category_counts()
    labels = sorted(set(rc) | set(cc), key=str)
    ref = np.array([rc.get(x, 0.0) for x in labels])
    cur = np.array([cc.get(x, 0.0) for x in labels])
    share_error = max(r_err / max(pair.n_reference, 1), c_err / max(pair.n_current, 1))
    return ref, cur, share_error


def psi(pair: SketchPair) -> Score:
    from dii_hpc.drift import stats

    rc, cc, _ = pair.counts()
    return Score(stats.psi(rc, cc))


def jensenshannon(pair: SketchPair) -> Score:
    from dii_hpc.drift import stats

    rc, cc, _ = pair.counts()
    return Score(stats.jensen_shannon(rc, cc))


def chisquare(pair: SketchPair) -> Score:
    from dii_hpc.drift import stats

    rc, cc, _ = pair.counts()
    chi, p = stats.chi_square(np.round(rc).astype(np.int64), np.round(cc).astype(np.int64))
    return Score(chi, p)


def share_error(pair: Any) -> float | None:
    """The largest error of one bin's or category's share (what PSI and JS are built on)."""
    return pair.counts()[2] if isinstance(pair, SketchPair) else None
