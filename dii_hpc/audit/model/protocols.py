"""What a user implements to be audited: a model and a dataset, at the numpy level.

Protocols (not base classes) so that any framework's model qualifies by shape alone; the
ready `TorchModelWrapper` covers torch modules, and anything else (scikit-learn, JAX) is
adapted to ART through `dii_hpc.audit.model.adapter`. Labels are integer class ids for
classification and float targets for regression, never one-hot: that is ART's business.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol, runtime_checkable


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

    @property
    def short(self) -> str:
        """The task in one word (listings): image, tabular, regression, timeseries, ..."""
        return {"image_classification": "image", "tabular_classification": "tabular",
                "tabular_regression": "regression", "timeseries_classification": "timeseries",
                "image_segmentation": "segmentation",
                "object_detection": "detection"}[self.value]

    @property
    def is_vision(self) -> bool:
        """Detection and segmentation: labels are boxes or masks, not class ids."""
        return self in (Task.OBJECT_DETECTION, Task.IMAGE_SEGMENTATION)

    @classmethod
    def parse(cls, value: str | Task) -> Task:
        from dii_hpc.errors import BadInput

        try:
            return cls(value)
        except ValueError as err:
            known = ", ".join(t.value for t in cls)
            raise BadInput(f"task {value!r} is unknown; known tasks: {known}") from err


@runtime_checkable
class Predictor(Protocol):
    """What every audited model has: its task and input, and raw outputs.

    ``predict`` returns (N, nb_classes) scores/logits for classifiers, (N,) for regressors,
    torchvision's list of dicts for detectors, (N, nb_classes, H, W) for segmenters."""

    task: Task | str
    input_shape: tuple[int, ...]
    nb_classes: int | None
    clip_values: tuple[float, float]

    def predict(self, x: Any) -> Any: ...


@runtime_checkable
class LossModel(Predictor, Protocol):
    """A model whose per-sample loss is known (membership attacks score it)."""

    def get_loss(self, x: Any, y: Any) -> Any:
        """Per-sample loss, shape (N,)."""


@runtime_checkable
class GradientModel(Predictor, Protocol):
    """A model with input gradients (white-box evasion)."""

    def get_grad(self, x: Any, y: Any) -> Any:
        """d loss / d x, same shape as x."""


@runtime_checkable
class ClassGradientModel(Predictor, Protocol):
    """A classifier with per-class input gradients (Carlini-Wagner, DeepFool)."""

    def get_class_grad(self, x: Any, label: Any) -> Any:
        """d logit[label] / d x per sample."""


@runtime_checkable
class AuditModel(LossModel, GradientModel, Protocol):
    """A model under audit, seen through numpy arrays: the methods every white-box attack
    may call. `get_grad` is the gradient of the per-sample loss w.r.t. the *input*; `fit`
    (retraining from scratch) and `get_activations` (a hidden layer) are optional and
    checked only where needed (`RetrainableModel`, `ActivationModel`)."""


@runtime_checkable
class RetrainableModel(Predictor, Protocol):
    """A model whose training recipe can run again on other data: poisoning retrains it on
    poisoned data, LiRA/RMIA train their reference models with it, `dp_canary` its canary
    run. `fit` retrains from scratch (not fine-tunes) in place; `TorchModelWrapper` gets it
    from its `trainer`."""

    def fit(self, x: Any, y: Any) -> None:
        """Train from scratch on (x, y) with the model's own hyper-parameters."""


@runtime_checkable
class GradientRetrainableModel(RetrainableModel, GradientModel, Protocol):
    """Retrainable with input gradients (the clean-label backdoor hardens its poison)."""


@runtime_checkable
class ActivationModel(RetrainableModel, Protocol):
    """Retrainable, with a hidden layer's activations (poisoned-sample detectors)."""

    def get_activations(self, x: Any) -> Any:
        """The activations of the layer before the last, flattened: (N, k)."""


@runtime_checkable
class ReferenceModel(RetrainableModel, LossModel, Protocol):
    """Retrainable, with a per-sample loss: LiRA and RMIA train reference models with `fit`
    and compare the target's loss with theirs."""


@runtime_checkable
class AuditDataset(Protocol):
    """Train (members, poisoning base) and test (evaluation) splits as numpy arrays."""

    def get_train_data(self) -> tuple[Any, Any]: ...

    def get_test_data(self) -> tuple[Any, Any]: ...


def classes(model: Predictor) -> int:
    """A classifier's number of classes (one line when the model does not say)."""
    from dii_hpc.errors import BadInput

    if not model.nb_classes:
        raise BadInput(f"{type(model).__name__} is a classifier but its nb_classes is "
                       f"{model.nb_classes!r}")
    return int(model.nb_classes)


def methods(protocol: type[Any]) -> tuple[str, ...]:
    """The methods a Protocol names, its bases' first (``GradientModel`` -> predict,
    get_grad): what `require` checks, derived from the Protocol itself."""
    out: list[str] = []
    for cls in reversed(protocol.__mro__):
        if not getattr(cls, "_is_protocol", False) or cls.__module__ == "typing":
            continue
        out += [name for name, value in vars(cls).items()
                if callable(value) and not name.startswith("_") and name not in out]
    return tuple(out)


def missing_methods(model: object, needed: type[Any]) -> list[str]:
    """The methods of the Protocol ``needed`` the model does not provide."""
    return [name for name in methods(needed) if not callable(getattr(model, name, None))]


def require(model: object, needed: type[Any], what: str) -> None:
    """Raise one line naming the first missing method, so the user knows what to add."""
    from dii_hpc.errors import BadInput

    missing = missing_methods(model, needed)
    if missing:
        raise BadInput(
            f"{what} needs model.{missing[0]}(...) but {type(model).__name__} does not "
            f"implement it (missing: {', '.join(missing)})"
        )
