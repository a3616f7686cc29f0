"""The estimate in a monitor's life: prepared by `drift profile`, made by every check, and
completed by `drift score` when the labels come.

A check keeps what the labels will be scored against (the batch's predictions, class scores
and the chunk of each row) as the run's artifact ``estimate.npz``: the batch file may be gone
or replaced by the next night's by then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.drift.estimate import bands, cbpe, dle
from dii_hpc.drift.estimate.bands import Metrics, Part
from dii_hpc.errors import BadInput
from dii_hpc.records.drift import Chunk, Estimate, Performance

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.drift.options import DriftOptions
    from dii_hpc.records.drift import DriftSection
    from dii_hpc.records.monitor import MonitorProfile

ARTIFACT = "estimate.npz"


def _plain(values: np.ndarray) -> np.ndarray:
    """Text classes as a unicode array (npz files are read without pickles)."""
    v = np.asarray(values)
    return v.astype(str) if v.dtype.kind == "O" else v


def prepare(record: MonitorProfile, found: tuple[np.ndarray, np.ndarray] | None,
            y: np.ndarray, opt: DriftOptions) -> dict[str, np.ndarray]:
    """Choose the estimator of a labelled reference; the extras it needs (class scores, their
    classes and calibrated probabilities for CBPE; DLE needs only the table). ``found``: the
    reference's (class scores, classes), from the model or the score columns."""
    if record.task == "classification":
        if found is None:
            return {}
        scores, classes = found[0], _plain(found[1])
        fitted = cbpe.CBPE.fit(y, scores, classes, opt.seed)
        record.estimator, record.calibration = "cbpe", fitted.calibration
        return {"scores": scores, "classes": classes,
                "calibrated": fitted.probabilities(scores)}
    if record.kind == "table":
        record.estimator = "dle"
    return {}


@dataclass
class Scoring:
    """A batch's metric functions: ``expected`` (None when scoring stored labels only),
    ``reference`` (the labelled reference, for bands and limits), ``realized`` (None until
    labels come)."""

    expected: Metrics | None
    reference: Metrics
    n_reference: int
    realized: Metrics | None
    higher_better: bool


def cbpe_scoring(extras: dict[str, np.ndarray], pred: np.ndarray, scores: np.ndarray | None,
          y: np.ndarray | None, seed: int, estimate: bool) -> Scoring:
    if scores is None:
        raise BadInput("no class scores for this batch: the monitor's model gave none, or it "
                       "has no score columns")
    classes, labels = extras["classes"], extras["labels"]
    expected = cbpe.CBPE.fit(labels, extras["scores"], classes, seed).expected(pred, scores) \
        if estimate else None
    return Scoring(expected, cbpe.realized(classes, labels, extras["predictions"],
                                           extras["scores"]), len(labels),
                   cbpe.realized(classes, y, pred, scores) if y is not None else None, True)


def dle_scoring(extras: dict[str, np.ndarray], ref: Any, cur: Any, pred: np.ndarray,
         y: np.ndarray | None, seed: int, estimate: bool) -> Scoring:
    labels, ref_pred = extras["labels"], extras["predictions"]
    expected = None
    if estimate:
        model = dle.DLE.fit(ref, labels, ref_pred, seed)
        expected = model.expected(cur.reindex(columns=ref.columns), pred)
    return Scoring(expected, dle.realized(labels, ref_pred), len(labels),
                   dle.realized(y, pred) if y is not None else None, False)


class _Bands:
    """Sampling errors per chunk size (computed once per size) and the reference's values."""

    def __init__(self, scoring: Scoring, seed: int) -> None:
        self.scoring, self.seed = scoring, seed
        self.base = scoring.reference(np.arange(scoring.n_reference))
        self._errors: dict[int, dict[str, float]] = {}

    def errors(self, n: int) -> dict[str, float]:
        if n not in self._errors:
            self._errors[n] = bands.sampling_errors(self.scoring.reference,
                                                    self.scoring.n_reference, n, self.seed,
                                                    bounded=self.scoring.higher_better)
        return self._errors[n]

    def judged(self, metrics: Metrics, rows: np.ndarray) -> dict[str, Estimate]:
        values, err = metrics(rows), self.errors(len(rows))
        return {k: bands.judge(bands.band(v, err[k], self.scoring.higher_better),
                               self.base[k], err[k], self.scoring.higher_better)
                for k, v in values.items()}


def _alerts(where: str, found: dict[str, Estimate], what: str) -> list[str]:
    return [f"{what} {k} {e.value:.4g} beyond {e.limit:.4g} ({where})"
            for k, e in found.items() if e.alert]


def fill(perf: Performance, scoring: Scoring, parts: list[Part], seed: int) -> None:
    """Estimated and/or realized metrics of the batch and of each chunk, with alerts."""
    b = _Bands(scoring, seed)
    every = np.concatenate([p.rows for p in parts]) if parts else np.arange(0)
    kinds: list[tuple[str, Callable[[], Metrics | None]]] = [
        ("estimated", lambda: scoring.expected), ("realized", lambda: scoring.realized)]
    chunks = perf.chunks or [Chunk(key=p.key, n=len(p.rows), start=p.start, end=p.end)
                             for p in parts]
    alerts = [a for a in perf.alerts if not any(a.startswith(k) for k, f in kinds if f())]
    for what, get in kinds:
        metrics = get()
        if metrics is None:
            continue
        setattr(perf, what, b.judged(metrics, every))
        alerts += _alerts("batch", getattr(perf, what), what)
        if len(parts) > 1:
            for chunk, part in zip(chunks, parts, strict=True):
                setattr(chunk, what, b.judged(metrics, part.rows))
                alerts += _alerts(chunk.key, getattr(chunk, what), what)
    perf.chunks = chunks if len(parts) > 1 else []
    perf.alerts = alerts
    perf.drift = bool(perf.degraded) or bool(alerts)


def add_to_check(section: DriftSection, prof: MonitorProfile, extras: dict[str, np.ndarray],
                 ref: Any, cur: Any, pred: np.ndarray | None, scores: np.ndarray | None,
                 y: np.ndarray | None, opt: DriftOptions) -> dict[str, np.ndarray]:
    """Estimate the batch's performance (and realize it with ``y``) into ``section``; returns
    the arrays `drift score` will need (empty when the monitor estimates nothing). ``scores``:
    the batch's class scores (CBPE), from the model or the score columns."""
    if prof.estimator is None or pred is None or "labels" not in extras:
        return {}
    kept: dict[str, np.ndarray] = {"predictions": np.asarray(pred)}
    if prof.estimator == "cbpe":
        scoring = cbpe_scoring(extras, pred, scores, y, opt.seed, estimate=True)
        if scores is not None:
            kept["scores"] = scores
    else:
        scoring = dle_scoring(extras, ref, cur, pred, y, opt.seed, estimate=True)
    parts = bands.parts(cur, len(pred), opt.chunk_size, opt.chunk_period, opt.timestamp_column)
    perf = section.performance or Performance(task=prof.task or "classification")
    perf.method, perf.calibration = prof.estimator, prof.calibration
    fill(perf, scoring, parts, opt.seed)
    section.performance = perf
    chunk_of = np.full(len(pred), -1, dtype=np.int64)
    for i, part in enumerate(parts):
        chunk_of[part.rows] = i
    kept["chunk"] = chunk_of
    return kept
