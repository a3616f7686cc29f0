"""What a user implements to be audited: a model and a dataset, at the numpy level.

Protocols (not base classes) so that any framework's model qualifies by shape alone; the
ready `TorchModelWrapper` covers torch modules, and anything else (scikit-learn, JAX) is
adapted to ART through `dii_hpc.audit.model.adapter`. Labels are integer class ids for
classification and float targets for regression, never one-hot: that is ART's business.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol, runtime_checkable

# Methods every audited model has; optional ones are checked per attack (see `requires`).
CORE_METHODS = ("predict", "get_loss", "get_grad")


class Task(str, Enum):
    """Task kinds; each maps to an ART estimator family (see `adapter.estimator_for`)."""

    IMAGE_CLASSIFICATION = "image_classification"
    TABULAR_CLASSIFICATION = "tabular_classification"
    TABULAR_REGRESSION = "tabular_regression"
    TIMESERIES_CLASSIFICATION = "timeseries_classification"
    # Shaped in, implemented by the detection/segmentation issue.
    IMAGE_SEGMENTATION = "image_segmentation"
    OBJECT_DETECTION = "object_detection"

    @property
    def is_classification(self) -> bool:
        return self.value.endswith("classification")

    @property
    def is_regression(self) -> bool:
        return self.value.endswith("regression")

    @classmethod
    def parse(cls, value: str | Task) -> Task:
        from dii_hpc.errors import BadInput

        try:
            return cls(value)
        except ValueError as err:
            known = ", ".join(t.value for t in cls)
            raise BadInput(f"task {value!r} is unknown; known tasks: {known}") from err


@runtime_checkable
class AuditModel(Protocol):
    """A model under audit, seen through numpy arrays.

    `get_grad` is the gradient of the per-sample loss w.r.t. the *input* (what white-box
    evasion needs); `fit` (retraining from scratch, for poisoning) and `get_activations`
    (a hidden layer, for poison detection) are optional and checked only when needed.
    """

    task: Task | str
    input_shape: tuple[int, ...]
    nb_classes: int | None
    clip_values: tuple[float, float]

    def predict(self, x: Any) -> Any:
        """Raw outputs: (N, nb_classes) scores/logits for classifiers, (N,) for regressors."""

    def get_loss(self, x: Any, y: Any) -> Any:
        """Per-sample loss, shape (N,)."""

    def get_grad(self, x: Any, y: Any) -> Any:
        """d loss / d x, same shape as x."""


@runtime_checkable
class RetrainableModel(AuditModel, Protocol):
    """A model whose training recipe can run again on other data: poisoning retrains it on
    poisoned data, LiRA/RMIA train their reference models with it, `dp_canary` its canary
    run. `fit` retrains from scratch (not fine-tunes) in place; `TorchModelWrapper` gets it
    from its `trainer`."""

    def fit(self, x: Any, y: Any) -> None:
        """Train from scratch on (x, y) with the model's own hyper-parameters."""


@runtime_checkable
class AuditDataset(Protocol):
    """Train (members, poisoning base) and test (evaluation) splits as numpy arrays."""

    def get_train_data(self) -> tuple[Any, Any]: ...

    def get_test_data(self) -> tuple[Any, Any]: ...


def missing_methods(model: object, needed: tuple[str, ...]) -> list[str]:
    """Names in `needed` the model does not provide (checked before any work starts)."""
    return [name for name in needed if not callable(getattr(model, name, None))]


def require(model: object, needed: tuple[str, ...], what: str) -> None:
    """Raise one line naming the first missing method, so the user knows what to add."""
    from dii_hpc.errors import BadInput

    missing = missing_methods(model, needed)
    if missing:
        raise BadInput(
            f"{what} needs model.{missing[0]}(...) but {type(model).__name__} does not "
            f"implement it (missing: {', '.join(missing)})"
        )
