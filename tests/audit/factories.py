"""Deliberately broken models and datasets for the bad-input tests ("module:callable")."""

from __future__ import annotations

from typing import Any

import numpy as np


def _digits() -> Any:
    from dii_hpc.examples.digits import digits_data

    return digits_data()


def wrong_shape() -> Any:
    from dii_hpc.audit.model.wrappers import ArrayDataset

    d = _digits()
    return ArrayDataset(d.x_train.reshape(-1, 64), d.y_train, d.x_test.reshape(-1, 64), d.y_test)


def nan_data() -> Any:
    from dii_hpc.audit.model.wrappers import ArrayDataset

    d = _digits()
    x = d.x_test.copy()
    x[3, 0, 2, 2] = np.nan
    return ArrayDataset(d.x_train, d.y_train, x, d.y_test)


def bad_labels() -> Any:
    from dii_hpc.audit.model.wrappers import ArrayDataset

    d = _digits()
    y = d.y_test.copy()
    y[0] = 12
    return ArrayDataset(d.x_train, d.y_train, d.x_test, y)


class PredictOnly:
    """A black-box model: no gradients, so white-box attacks must be refused up front."""

    task = "image_classification"
    input_shape = (1, 8, 8)
    nb_classes = 10
    clip_values = (0.0, 1.0)

    def __init__(self) -> None:
        from dii_hpc.examples.digits import digits_model

        self.inner = digits_model()

    def predict(self, x: Any) -> Any:
        return self.inner.predict(x)

    def get_loss(self, x: Any, y: Any) -> Any:
        return self.inner.get_loss(x, y)


def predict_only() -> PredictOnly:
    return PredictOnly()


class TriggerFlips:
    """A tabular classifier that answers class 0 whenever the backdoor trigger (the first
    3 features at the top of the range) is present: poisoning has nothing left to add."""

    task = "tabular_classification"
    nb_classes = 2
    clip_values = (0.0, 1.0)

    def __init__(self, n_features: int) -> None:
        self.input_shape = (n_features,)
        self.clf: Any = None

    def fit(self, x: Any, y: Any) -> None:
        from sklearn.linear_model import LogisticRegression

        self.clf = LogisticRegression(max_iter=1000).fit(x, y)

    def predict(self, x: Any) -> Any:
        logits = np.log(self.clf.predict_proba(x) + 1e-12)
        logits[(np.asarray(x)[:, :3] >= self.clip_values[1]).all(axis=1)] = [0.0, -50.0]
        return logits


def trigger_flips() -> TriggerFlips:
    from dii_hpc.examples.tabular import breast_cancer_data

    x, y = breast_cancer_data().get_train_data()
    model = TriggerFlips(x.shape[1])
    model.fit(x, y)
    return model


def corrupt_weights() -> Any:
    """A model whose loading fails (as a corrupt weights file would), wherever it is built:
    with `task:` in the config, only the Slurm array tasks build it."""
    raise ValueError("weights file is corrupt: unexpected end of data")


def loads_for_minutes() -> Any:
    """A model that takes minutes to load (a huge checkpoint on a slow filesystem): array
    tasks that build it are still running when a test cancels them (their time limit ends
    them otherwise)."""
    import time

    time.sleep(600)
    raise RuntimeError("still loading")
