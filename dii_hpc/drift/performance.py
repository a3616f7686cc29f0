"""Prediction drift (do the model's outputs look different?) and performance drift (with labels).

Prediction drift needs no labels, so it is the earliest warning a deployed model gives.
Performance drift compares the metric on the current labelled batch with the one measured on
the reference: classification -> accuracy and macro F1 (worse when they drop by more than
`performance_max_drop`, absolute), regression -> MAE and RMSE (worse when they rise by more
than `performance_max_drop` relative to the reference).
"""

from __future__ import annotations

import numpy as np

from dii_hpc.drift.compare import feature_result, sorted_clean
from dii_hpc.drift.options import DriftOptions
from dii_hpc.errors import BadInput
from dii_hpc.records.drift import FeatureResult, Performance

MAX_CLASSES = 50


def task_of(labels: np.ndarray) -> str:
    """'classification' for text, bool, integers or integral floats with few values, else 'regression'."""
    y = np.asarray(labels)
    if y.dtype.kind in "OUSb":
        return "classification"
    if y.dtype.kind in "iu":
        return "classification" if len(np.unique(y)) <= MAX_CLASSES else "regression"
    yf = y.astype(np.float64)
    yf = yf[~np.isnan(yf)]
    integral = bool(np.all(yf == np.round(yf)))
    return "classification" if integral and len(np.unique(yf)) <= MAX_CLASSES else "regression"


def metrics(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Accuracy + macro F1, or MAE + RMSE. Labels and predictions must have equal length."""
    y, pred = np.asarray(y), np.asarray(pred)
    if len(y) != len(pred):
        raise BadInput(f"labels have {len(y)} rows but the batch has {len(pred)}")
    if len(y) == 0:
        raise BadInput("labels are empty")
    if task == "classification":
        ys, ps = _align_classes(y, pred)
        f1s = []
        for c in np.union1d(ys, ps):
            tp = np.sum((ys == c) & (ps == c))
            denom = np.sum(ys == c) + np.sum(ps == c)
            f1s.append(2.0 * tp / denom if denom else 0.0)
        return {"accuracy": float(np.mean(ys == ps)), "f1_macro": float(np.mean(f1s))}
    err = pred.astype(np.float64) - y.astype(np.float64)
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err * err)))}


def _align_classes(y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compare integral labels and predictions as the same type (e.g. 1.0 vs 1)."""
    if y.dtype.kind in "iufb" and pred.dtype.kind in "iufb":
        return y.astype(np.float64), pred.astype(np.float64)
    return y.astype(str), pred.astype(str)


def performance_drift(reference: dict[str, float], current: dict[str, float], task: str,
                      opt: DriftOptions) -> Performance:
    """Which metrics worsened beyond the allowed drop; drift when any did."""
    worse: list[str] = []
    for key, ref in reference.items():
        cur = current[key]
        if key in ("accuracy", "f1_macro"):
            if ref - cur > opt.performance_max_drop:
                worse.append(key)
        elif cur > ref * (1.0 + opt.performance_max_drop) + 1e-12:
            worse.append(key)
    return Performance(task=task, reference=reference, current=current, degraded=worse,
                       max_drop=opt.performance_max_drop, drift=bool(worse))


def prediction_drift(ref_pred: np.ndarray, cur_pred: np.ndarray, task: str,
                     opt: DriftOptions) -> FeatureResult:
    """The per-feature machinery applied to the model's outputs (classes are categories)."""
    if task == "classification":
        return feature_result("prediction", "categorical", np.asarray(ref_pred),
                              np.asarray(cur_pred), opt)
    return feature_result("prediction", "numeric", sorted_clean(ref_pred), sorted_clean(cur_pred),
                          opt)
