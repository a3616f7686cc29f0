"""DLE: a regressor's MAE and RMSE without labels, from a model of its own errors.

On the labelled reference the absolute and the squared error of every row are known; two
gradient-boosted trees learn them from the features and the prediction (NannyML's direct loss
estimation, with scikit-learn's histogram boosting in LightGBM's default shape: 100 rounds,
31 leaves, rate 0.1). A batch's estimated MAE is the mean of the predicted absolute errors,
its RMSE the root of the mean predicted squared error. Valid under covariate shift (the
errors' dependence on the inputs stays the reference's), not under concept shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dii_hpc.drift.estimate.bands import Metrics

METRICS = ("mae", "rmse")


def design(frame: Any, pred: np.ndarray, categories: dict[str, list[Any]]) -> np.ndarray:
    """Features + prediction as one float matrix; categorical columns as codes of the
    reference's categories (an unseen one is missing)."""
    import pandas as pd

    cols = []
    for col in frame.columns:
        if col in categories:
            cols.append(pd.Categorical(frame[col], categories=categories[col]).codes
                        .astype(np.float64))
            cols[-1][cols[-1] < 0] = np.nan
        else:
            cols.append(pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64))
    cols.append(np.asarray(pred, dtype=np.float64).reshape(len(frame)))
    return np.column_stack(cols)


def _booster(categorical: list[bool], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=31,
                                         min_samples_leaf=20, early_stopping=False,
                                         categorical_features=categorical or None,
                                         random_state=seed)


@dataclass
class DLE:
    """The two error models and the column layout they were fitted on."""

    categories: dict[str, list[Any]]
    absolute: Any
    squared: Any

    @classmethod
    def fit(cls, frame: Any, labels: np.ndarray, pred: np.ndarray, seed: int = 0) -> DLE:
        """Learn the reference's absolute and squared errors."""
        from dii_hpc.drift.io import is_numeric

        cats = {c: sorted(frame[c].dropna().unique().tolist(), key=str)
                for c in frame.columns if not is_numeric(frame[c])}
        x = design(frame, pred, cats)
        mask = [c in cats for c in frame.columns] + [False]
        err = np.asarray(pred, np.float64).reshape(-1) - np.asarray(labels, np.float64)
        return cls(cats, _booster(mask, seed).fit(x, np.abs(err)),
                   _booster(mask, seed).fit(x, err * err))

    def expected(self, frame: Any, pred: np.ndarray) -> Metrics:
        """The estimated MAE / RMSE of any subset of the batch."""
        x = design(frame[list(frame.columns)], pred, self.categories)
        abs_err = np.clip(self.absolute.predict(x), 0.0, None)
        sq_err = np.clip(self.squared.predict(x), 0.0, None)
        return lambda idx: {"mae": float(abs_err[idx].mean()),
                            "rmse": float(np.sqrt(sq_err[idx].mean()))}


def realized(labels: np.ndarray, pred: np.ndarray) -> Metrics:
    """The labelled MAE / RMSE of any subset."""
    err = np.asarray(pred, np.float64).reshape(-1) - np.asarray(labels, np.float64)
    return lambda idx: {"mae": float(np.abs(err[idx]).mean()),
                        "rmse": float(np.sqrt((err[idx] ** 2).mean()))}
