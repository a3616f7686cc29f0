"""CBPE: a classifier's performance without labels, from its calibrated scores.

When scores are calibrated (among rows scored 0.8, 80 % are of the class), the expected
confusion matrix of a batch is the sum of its scores: a row predicted as class c adds its
probability of c to the true positives of c and the rest to the false positives, and so on.
Accuracy, precision, recall and F1 follow from that matrix (macro averages over classes when
there are more than two; the second class is the positive one of a binary model), ROC AUC from
the expected true/false positive counts along the model's own ranking (NannyML's algorithm).
The calibration is isotonic (per class, one vs rest), fitted on the labelled reference and
used only when it lowers the expected calibration error in cross-validation (NannyML's rule);
`Calibration` says how good the result is, since every estimate rests on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dii_hpc.drift.estimate.bands import Metrics
from dii_hpc.errors import BadInput
from dii_hpc.records.drift import Calibration

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
MAX_ECE = 0.05  # calibration error beyond this (and beyond chance) on held-out reference rows,
MAX_GAP = 0.01  # or estimated accuracy off by this (and 4 sampling errors) there: flagged
ECE_BINS, ECE_SPLITS = 10, 10


def as_matrix(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """Scores as an (n, k) matrix (a binary model may give one column: P(second class))."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1 or (s.ndim == 2 and s.shape[1] == 1 and n_classes == 2):
        s = s.reshape(-1)
        return np.column_stack([1.0 - s, s])
    if s.ndim != 2 or s.shape[1] != n_classes:
        raise BadInput(f"the model gives scores of shape {s.shape} for {n_classes} classes")
    return s


def class_index(values: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    """Positions of ``values`` in ``classes``; a value of no class is refused."""
    v = np.asarray(values)
    if classes.dtype.kind in "iuf" and v.dtype.kind in "iufb":
        v, cls = v.astype(np.float64), classes.astype(np.float64)
    else:
        v, cls = v.astype(str), classes.astype(str)
    pos = np.searchsorted(cls, v)
    bad = (pos >= len(cls)) | (cls[np.minimum(pos, len(cls) - 1)] != v)
    if bad.any():
        raise BadInput(f"{what} {v[bad][0]!r} is none of the model's classes "
                       f"({', '.join(map(str, cls[:10]))})")
    return pos


def _ece(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Expected calibration error over equal-count bins of the sorted scores, and what a
    perfectly calibrated score would show at these bin sizes by chance (its noise floor)."""
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, min(ECE_BINS, max(1, len(p) // 2))) if len(b)]
    ece = sum(len(b) / len(p) * abs(p[b].mean() - y[b].mean()) for b in bins)
    floor = sum(len(b) / len(p) * np.sqrt(2 / np.pi * np.mean(p[b] * (1 - p[b])) / len(b))
                for b in bins)
    return float(ece), float(floor)


def _isotonic(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(out_of_bounds="clip", increasing=True).fit(x, y)


def _normalised(p: np.ndarray) -> np.ndarray:
    """Per-class calibrated probabilities as rows summing to 1 (binary: the second class's)."""
    if p.shape[1] == 2:
        return np.column_stack([1.0 - p[:, 1], p[:, 1]])
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)


@dataclass(frozen=True)
class _Held:
    """Held-out reference rows of the cross-validation: labels (one-hot), raw and calibrated."""

    truth: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray

    def ece(self, calibrated: bool) -> tuple[float, float]:
        """Mean over classes of (ECE, its noise floor)."""
        p = self.calibrated if calibrated else self.raw
        found = [_ece(self.truth[:, c], p[:, c]) for c in range(self.truth.shape[1])]
        return float(np.mean([f[0] for f in found])), float(np.mean([f[1] for f in found]))

    def accuracy_gap(self, calibrated: bool) -> tuple[float, float]:
        """|expected - realized| accuracy of the held-out rows, and its sampling error (x
        sqrt(2): the splits draw rows repeatedly, about twice the variance of distinct ones)."""
        p = self.calibrated if calibrated else self.raw
        pred = self.raw.argmax(axis=1)
        rows = np.arange(len(pred))
        real = float(self.truth[rows, pred].mean())
        gap = abs(float(p[rows, pred].mean()) - real)
        return gap, float(np.sqrt(2 * max(real * (1 - real), 1e-4) / len(pred)))


def _needs(truth: np.ndarray, score: np.ndarray, seed: int) -> bool:
    """NannyML's rule for one class: calibrate when isotonic lowers the ECE of the class's
    held-out scores (10 splits of 90/10, stratified on the class)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    if len(np.unique(truth)) < 2:
        return False
    split = StratifiedShuffleSplit(n_splits=ECE_SPLITS, test_size=0.1, random_state=seed)
    ys, ps, qs = [], [], []
    for train, test in split.split(score, truth):
        ys.append(truth[test])
        ps.append(score[test])
        qs.append(_isotonic(score[train], truth[train]).predict(score[test]))
    y, p, q = np.concatenate(ys), np.concatenate(ps), np.concatenate(qs)
    return _ece(y, q)[0] < _ece(y, p)[0]


def _calibrated(maps: list[Any], scores: np.ndarray) -> np.ndarray:
    """Each class's scores through its map (None: as they are), rows normalised."""
    return _normalised(np.column_stack([m.predict(scores[:, c]) if m is not None
                                        else scores[:, c] for c, m in enumerate(maps)]))


def _check(truth: np.ndarray, scores: np.ndarray, use: list[bool], seed: int) -> _Held:
    """The held-out rows of ``ECE_SPLITS`` stratified 90/10 splits of the reference, calibrated
    where ``use`` says."""
    from sklearn.model_selection import StratifiedShuffleSplit

    split = StratifiedShuffleSplit(n_splits=ECE_SPLITS, test_size=0.1, random_state=seed)
    ys, raw, cal = [], [], []
    for train, test in split.split(scores, truth.argmax(axis=1)):
        maps = [_isotonic(scores[train, c], truth[train, c]) if u else None
                for c, u in enumerate(use)]
        ys.append(truth[test])
        raw.append(scores[test])
        cal.append(_calibrated(maps, scores[test]))
    return _Held(np.concatenate(ys), np.concatenate(raw), np.concatenate(cal))


@dataclass
class CBPE:
    """A fitted estimator: the model's classes, the isotonic map of each class (None: that
    class's scores kept; ``maps`` None: every score kept), and the calibration check."""

    classes: np.ndarray
    maps: list[Any | None] | None
    calibration: Calibration

    @classmethod
    def fit(cls, labels: np.ndarray, scores: np.ndarray, classes: np.ndarray,
            seed: int = 0) -> CBPE:
        """Fit the calibration on the labelled reference and check it."""
        classes = np.asarray(classes)
        s = as_matrix(scores, len(classes))
        truth = np.eye(len(classes))[class_index(labels, classes, "reference label")]
        if len(np.unique(truth.argmax(axis=1))) < 2:
            raise BadInput("the reference labels hold one class: nothing to calibrate on")
        k = len(classes)
        use = [False] * k
        for c in [1] if k == 2 else range(k):  # binary: the positive class decides (NannyML)
            use[c] = _needs(truth[:, c], s[:, c], seed)
        maps = [_isotonic(s[:, c], truth[:, c]) if u else None for c, u in enumerate(use)] \
            if any(use) else None
        held = _check(truth, s, use, seed)
        (ece_raw, _), (ece_cal, floor) = held.ece(False), held.ece(True)
        use_any = any(use)
        best = ece_cal if use_any else ece_raw
        gap, error = held.accuracy_gap(use_any)
        ok = best <= max(MAX_ECE, 2 * floor) and gap <= max(MAX_GAP, 4 * error)
        detail = (f"{'isotonic' if use_any else 'raw scores'}: expected calibration error {best:.3f} "
                  f"on held-out reference rows (raw {ece_raw:.3f}, chance {floor:.3f}); "
                  f"estimated accuracy off the realized by {gap:.3f} there"
                  + ("" if ok else "; calibration poor: estimates may be off"))
        return cls(classes, maps, Calibration(method="isotonic" if use_any else "none",
                                              ece_raw=ece_raw, ece_calibrated=ece_cal, ok=ok,
                                              detail=detail))

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (rows sum to 1)."""
        s = as_matrix(scores, len(self.classes))
        return s if self.maps is None else _calibrated(self.maps, s)

    def expected(self, pred: np.ndarray, scores: np.ndarray) -> Metrics:
        """The estimated metrics of any subset of the batch (row indices -> values)."""
        k = len(self.classes)
        onehot = np.eye(k)[class_index(pred, self.classes, "prediction")]
        raw = as_matrix(scores, k)
        prob = self.probabilities(raw)
        return lambda idx: _metrics(onehot[idx], prob[idx], raw[idx], expected=True)



def realized(classes: np.ndarray, labels: np.ndarray, pred: np.ndarray,
             scores: np.ndarray) -> Metrics:
    """The labelled metrics of any subset of a batch (the same formulas, labels one-hot)."""
    k = len(classes)
    onehot = np.eye(k)[class_index(pred, classes, "prediction")]
    truth = np.eye(k)[class_index(labels, classes, "label")]
    raw = as_matrix(scores, k)
    return lambda idx: _metrics(onehot[idx], truth[idx], raw[idx], expected=False)


def _metrics(pred: np.ndarray, truth: np.ndarray, raw: np.ndarray,
             expected: bool) -> dict[str, float]:
    """Metrics from a (soft, when ``expected``) confusion matrix: one-hot predictions vs the
    probability of each class (labels as one-hot rows when realized)."""
    tp = (pred * truth).sum(axis=0)
    fp = (pred * (1.0 - truth)).sum(axis=0)
    fn = ((1.0 - pred) * truth).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)
    cls = [1] if truth.shape[1] == 2 else list(range(truth.shape[1]))
    aucs = [_auc(truth[:, c], raw[:, c], expected) for c in cls]
    return {"accuracy": float(tp.sum() / len(pred)) if len(pred) else float("nan"),
            "precision": _mean(precision[cls]), "recall": _mean(recall[cls]),
            "f1": _mean(f1[cls]), "roc_auc": _mean(np.array(aucs))}


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _auc(weight: np.ndarray, score: np.ndarray, expected: bool) -> float:
    """ROC AUC of ``score`` for positives weighted by ``weight`` (a probability, or 0/1).

    Realized: the rank statistic (ties count half, as sklearn). Expected: NannyML's curve of
    cumulative expected positives along the descending scores."""
    if not expected:
        from scipy.stats import rankdata

        pos = weight > 0.5
        n1, n0 = int(pos.sum()), int((~pos).sum())
        if not n1 or not n0:
            return float("nan")
        ranks = rankdata(score)
        return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    order = np.argsort(score, kind="stable")[::-1]
    tps = np.r_[0.0, np.cumsum(weight[order])]
    fps = np.r_[0.0, np.arange(1, len(order) + 1) - tps[1:]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))
