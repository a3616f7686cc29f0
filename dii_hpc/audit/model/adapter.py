"""Turn any `AuditModel` into an ART estimator: one factory per task.

Torch wrappers give ART its native estimator (fast path). Anything else that implements
the numpy methods is wrapped in `NumpyClassifier`/`NumpyRegressor`, custom ART estimators
that call `predict`/`get_grad`/... so ART's attacks run unchanged on scikit-learn or JAX
models. New tasks (segmentation, detection) add an entry to `_FACTORIES`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.audit.model.protocols import Task
from dii_hpc.errors import BadInput


def estimator_for(model: Any, *, native: bool = True) -> Any:
    """The ART estimator for `model`'s task (native torch one when offered and wanted)."""
    task = Task.parse(model.task)
    if native and callable(getattr(model, "art_estimator", None)):
        return model.art_estimator()
    factory = _FACTORIES.get(task)
    if factory is None:
        raise BadInput(f"task {task.value!r} has no audit estimator yet "
                       f"(supported: {', '.join(t.value for t in _FACTORIES)})")
    return factory(model)


def _numpy_classifier(model: Any) -> Any:
    from art.estimators.classification.classifier import ClassGradientsMixin, ClassifierMixin
    from art.estimators.estimator import BaseEstimator, LossGradientsMixin, NeuralNetworkMixin

    class NumpyClassifier(ClassGradientsMixin, ClassifierMixin, LossGradientsMixin,
                          NeuralNetworkMixin, BaseEstimator):
        """ART classifier over numpy-level methods (labels given to the model as ints)."""

        estimator_params = BaseEstimator.estimator_params + ClassifierMixin.estimator_params

        def __init__(self, inner: Any) -> None:
            super().__init__(model=inner, clip_values=tuple(inner.clip_values),
                             channels_first=True)
            self.inner = inner
            self.nb_classes = int(inner.nb_classes)
            self._shape = tuple(inner.input_shape)

        @property
        def input_shape(self) -> tuple[int, ...]:
            return self._shape

        @property
        def layer_names(self) -> list[str]:
            return ["activations"]

        def predict(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> np.ndarray:
            return np.asarray(self.inner.predict(x), dtype=np.float32)

        def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128,
                nb_epochs: int = 20, **kwargs: Any) -> None:
            self.inner.fit(x, _labels(y))

        def loss_gradient(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.asarray(self.inner.get_grad(x, _labels(y)), dtype=np.float32)

        def compute_loss(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.asarray(self.inner.get_loss(x, _labels(y)))

        def class_gradient(self, x: np.ndarray, label: Any = None, **kwargs: Any) -> np.ndarray:
            if not callable(getattr(self.inner, "get_class_grad", None)):
                raise BadInput(f"this attack needs model.get_class_grad(x, label) but "
                               f"{type(self.inner).__name__} does not implement it")
            return _class_gradient(self.inner, x, label, self.nb_classes)

        def get_activations(self, x: np.ndarray, layer: Any = None, batch_size: int = 128,
                            framework: bool = False) -> np.ndarray:
            return np.asarray(self.inner.get_activations(x))

    return NumpyClassifier(model)


def _class_gradient(inner: Any, x: np.ndarray, label: Any, nb_classes: int) -> np.ndarray:
    """ART's class_gradient shapes: (N, 1, *x) for a label (array or int), (N, C, *x) for all."""
    n = len(x)
    if label is None:
        grads = [inner.get_class_grad(x, np.full(n, c)) for c in range(nb_classes)]
        return np.stack(grads, axis=1).astype(np.float32)
    labels = np.asarray(label).reshape(-1)
    if labels.size == 1:  # one class for every sample
        labels = np.full(n, int(labels[0]))
    return np.asarray(inner.get_class_grad(x, labels), dtype=np.float32)[:, None]


def _numpy_regressor(model: Any) -> Any:
    from art.estimators.estimator import BaseEstimator, LossGradientsMixin
    from art.estimators.regression.regressor import RegressorMixin

    class NumpyRegressor(RegressorMixin, LossGradientsMixin, BaseEstimator):
        """ART regressor over numpy-level methods."""

        estimator_params = BaseEstimator.estimator_params

        def __init__(self, inner: Any) -> None:
            super().__init__(model=inner, clip_values=tuple(inner.clip_values))
            self.inner = inner
            self._shape = tuple(inner.input_shape)

        @property
        def input_shape(self) -> tuple[int, ...]:
            return self._shape

        def predict(self, x: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.asarray(self.inner.predict(x), dtype=np.float32).reshape(-1)

        def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
            self.inner.fit(x, y)

        def loss_gradient(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.asarray(self.inner.get_grad(x, y), dtype=np.float32)

        def compute_loss(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.asarray(self.inner.get_loss(x, y))

    return NumpyRegressor(model)


def _labels(y: np.ndarray) -> np.ndarray:
    """ART hands one-hot labels around; the user's model speaks integer ids."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)


_FACTORIES = {
    Task.IMAGE_CLASSIFICATION: _numpy_classifier,
    Task.TABULAR_CLASSIFICATION: _numpy_classifier,
    Task.TIMESERIES_CLASSIFICATION: _numpy_classifier,
    Task.TABULAR_REGRESSION: _numpy_regressor,
}
