"""Performance metrics equal scikit-learn's; degradation rules for classification and regression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.performance import metrics, performance_drift, task_of
from dii_hpc.errors import BadInput


def test_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    m = metrics("classification", y, p)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["f1_macro"] == pytest.approx(f1_score(y, p, average="macro"))
    yr, pr = rng.normal(size=200), rng.normal(size=200)
    r = metrics("regression", yr, pr)
    assert r["mae"] == pytest.approx(mean_absolute_error(yr, pr))
    assert r["rmse"] == pytest.approx(np.sqrt(mean_squared_error(yr, pr)))
    assert metrics("classification", np.array(["a", "b"]), np.array(["a", "a"]))["accuracy"] == 0.5
    with pytest.raises(BadInput, match="labels have 2 rows but the batch has 3"):
        metrics("classification", np.array([1, 2]), np.array([1, 2, 3]))


def test_task_and_drift_rules() -> None:
    assert task_of(np.array([0, 1, 1])) == "classification"
    assert task_of(np.array([0.0, 1.0, 2.0])) == "classification"
    assert task_of(np.array([0.5, 1.2])) == "regression"
    assert task_of(np.array(["cat", "dog"])) == "classification"
    opt = DriftOptions(performance_max_drop=0.05)
    ok = performance_drift({"accuracy": 0.9, "f1_macro": 0.8}, {"accuracy": 0.86, "f1_macro": 0.8},
                           "classification", opt)
    assert ok.drift is False
    bad = performance_drift({"mae": 1.0, "rmse": 2.0}, {"mae": 1.2, "rmse": 2.05}, "regression", opt)
    assert bad.drift is True and bad.degraded == ["mae"]
