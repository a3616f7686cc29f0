"""Evasion scores: clean vs attacked accuracy (or error, for regressors), perturbation
sizes, Clopper-Pearson intervals, per-sample "still right" flags."""

from __future__ import annotations

import numpy as np

from dii_hpc.audit.core import stats
from dii_hpc.audit.model.protocols import Predictor, Task


def score(model: Predictor, x: np.ndarray, y: np.ndarray, x_adv: np.ndarray,
          pred_clean: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, list[float]],
                                                       np.ndarray]:
    """Metrics, Clopper-Pearson intervals and per-sample 'still right' flags."""
    task = Task.parse(model.task)
    delta = (x_adv - x).reshape(len(x), -1)
    pert = {"mean_perturbation_linf": float(np.abs(delta).max(1).mean()) if len(x) else 0.0,
            "mean_perturbation_l2": float(np.linalg.norm(delta, axis=1).mean()) if len(x) else 0.0}
    clean = model.predict(x) if pred_clean is None else pred_clean
    adv = model.predict(x_adv)
    if task.is_regression:
        return _regression_metrics(y, clean, adv) | pert, {}, np.abs(adv - y) <= np.abs(clean - y)
    ok_clean = np.argmax(clean, axis=1) == y
    ok_adv = np.argmax(adv, axis=1) == y
    flipped = ok_clean & ~ok_adv
    metrics = {"clean_accuracy": float(ok_clean.mean()), "robust_accuracy": float(ok_adv.mean()),
               "attack_success_rate": float(flipped.sum() / max(ok_clean.sum(), 1))} | pert
    intervals = {"clean_accuracy": stats.rate_interval(ok_clean),
                 "robust_accuracy": stats.rate_interval(ok_adv),
                 "attack_success_rate": stats.rate_interval(flipped[ok_clean])}
    return metrics, intervals, ok_adv


def _regression_metrics(y: np.ndarray, clean: np.ndarray, adv: np.ndarray) -> dict[str, float]:
    clean, adv = np.asarray(clean).reshape(-1), np.asarray(adv).reshape(-1)
    m = {"clean_mae": float(np.abs(clean - y).mean()),
         "clean_rmse": float(np.sqrt(((clean - y) ** 2).mean())),
         "adv_mae": float(np.abs(adv - y).mean()),
         "adv_rmse": float(np.sqrt(((adv - y) ** 2).mean()))}
    m["mae_increase"] = m["adv_mae"] - m["clean_mae"]
    m["rmse_increase"] = m["adv_rmse"] - m["clean_rmse"]
    return m
