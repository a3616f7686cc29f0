"""Bands, alerts and chunks: how far a batch's metric may stray from the reference by chance.

The sampling error of a metric at ``n`` rows is the standard deviation of that metric over
bootstrap samples of ``n`` reference rows (NannyML's idea: the reference, whose labels are
known, says how much a chunk of this size varies when nothing changed). A value's band is
+-3 of those errors; an alert is an estimate (or a realized value) outside the reference's own
band on the worse side. Chunks are runs of rows (``chunk_size``) or periods of a timestamp
column (``chunk_period``); without either the batch is one chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dii_hpc.errors import BadInput
from dii_hpc.records.drift import Estimate

SIGMAS = 3.0
BOOTSTRAPS = 200

Metrics = Callable[[np.ndarray], dict[str, float]]  # row indices -> metric values


@dataclass(frozen=True)
class Part:
    """One chunk: its key (``rows 0-999`` or a period) and its row positions."""

    key: str
    rows: np.ndarray
    start: int | None = None
    end: int | None = None


def sampling_errors(metrics: Metrics, n_ref: int, n: int, seed: int,
                    bounded: bool) -> dict[str, float]:
    """Per metric: the std of ``metrics`` over bootstrap samples of ``n`` of ``n_ref`` rows.

    A bounded metric the reference gets (nearly) perfect would have no spread at all, and any
    estimate short of perfect would alert: its error is at least that of a rate of 3/``n_ref``
    (the rule of three: no miss in ``n_ref`` rows still allows that many) at ``n`` rows."""
    rng = np.random.default_rng([seed, n])
    draws = [metrics(rng.integers(0, n_ref, n)) for _ in range(BOOTSTRAPS)]
    q = min(0.5, 3.0 / n_ref)
    floor = float(np.sqrt(q * (1 - q) / n)) if bounded else 0.0
    return {key: max(floor, float(np.nanstd([d[key] for d in draws], ddof=1)))
            for key in draws[0]}


def band(value: float, error: float, bounded: bool) -> Estimate:
    """``value`` +- SIGMAS errors (clipped to [0, 1] for a bounded metric, >= 0 otherwise)."""
    lo, hi = value - SIGMAS * error, value + SIGMAS * error
    top = 1.0 if bounded else np.inf
    return Estimate(value=float(value), lower=float(max(lo, 0.0)), upper=float(min(hi, top)))


def judge(est: Estimate, reference: float, error: float, higher_better: bool) -> Estimate:
    """Mark ``est`` alerting when it lies beyond the reference's band on the worse side."""
    limit = reference - SIGMAS * error if higher_better else reference + SIGMAS * error
    est.limit = float(limit)
    est.alert = bool(est.value < limit if higher_better else est.value > limit)
    return est


def parts(frame: Any, n: int, chunk_size: int | None, period: str | None,
          timestamp: str | None) -> list[Part]:
    """The chunks of a batch of ``n`` rows (``frame`` is needed for periods only)."""
    if period:
        return _periods(frame, period, timestamp)
    if not chunk_size or chunk_size >= n:
        return [Part("all", np.arange(n), 0, n)]
    return [Part(f"rows {a}-{min(a + chunk_size, n) - 1}", np.arange(a, min(a + chunk_size, n)),
                 a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]


def _periods(frame: Any, period: str, timestamp: str | None) -> list[Part]:
    """One chunk per calendar period of the timestamp column, in time order."""
    import pandas as pd

    if frame is None or not timestamp:
        raise BadInput("chunk_period needs a table and timestamp_column")
    if timestamp not in frame.columns:
        raise BadInput(f"timestamp_column {timestamp!r} is not a column of the batch")
    try:
        stamps = pd.to_datetime(frame[timestamp])
        keys = stamps.dt.to_period(period)
    except (ValueError, TypeError) as err:
        raise BadInput(f"chunk_period {period!r} on column {timestamp!r}: "
                       f"{str(err).splitlines()[0]}") from err
    codes = keys.astype(str).to_numpy()
    order = sorted(set(codes))
    return [Part(key, np.flatnonzero(codes == key)) for key in order]
