"""Deliberately broken models and datasets for the bad-input tests ("module:callable")."""

from __future__ import annotations

from typing import Any

import numpy as np


def _digits() -> Any:
    from dii_hpc.examples.digits import digits_data

    return digits_data()


def wrong_shape() -> Any:
    from dii_hpc.audit.wrappers import ArrayDataset

    d = _digits()
    return ArrayDataset(d.x_train.reshape(-1, 64), d.y_train, d.x_test.reshape(-1, 64), d.y_test)


def nan_data() -> Any:
    from dii_hpc.audit.wrappers import ArrayDataset

    d = _digits()
    x = d.x_test.copy()
    x[3, 0, 2, 2] = np.nan
    return ArrayDataset(d.x_train, d.y_train, x, d.y_test)


def bad_labels() -> Any:
    from dii_hpc.audit.wrappers import ArrayDataset

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
