"""Audit models for the two vision tasks: a torch module plus what the audit needs to know.

Same shape as `dii_hpc.audit.model.wrappers.TorchModelWrapper` (task, input_shape, nb_classes,
clip_values, predict/get_loss/get_grad, optional fit, weights_path, art_estimator), with
task-specific labels: detection takes torchvision targets (a list of
{"boxes" (k, 4) [x1, y1, x2, y2] px, "labels" (k,)}), segmentation takes (N, H, W) masks.
`nb_classes` counts every id a label may take, background included (ids 0..nb_classes-1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dii_hpc.audit.model.protocols import Task


class _TorchVisionModel:
    task: Task

    def __init__(self, module: Any, *, input_shape: tuple[int, ...], nb_classes: int,
                 clip_values: tuple[float, float] = (0.0, 1.0),
                 trainer: Callable[[np.ndarray, Any], Any] | None = None,
                 weights_path: str | None = None) -> None:
        self.module = module.eval()
        self.input_shape = tuple(input_shape)
        self.nb_classes = int(nb_classes)
        self.clip_values = (float(clip_values[0]), float(clip_values[1]))
        self._trainer = trainer
        self.weights_path = weights_path
        if trainer is None:
            self.fit = None  # type: ignore[assignment]  # absent: `require` names it

    def art_estimator(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> Any:
        return self.art_estimator().predict(np.asarray(x, dtype=np.float32))

    def get_grad(self, x: np.ndarray, y: Any) -> np.ndarray:
        return self.art_estimator().loss_gradient(np.asarray(x, dtype=np.float32), y)

    def fit(self, x: np.ndarray, y: Any) -> None:
        """Retrain from scratch with the model's own recipe (poisoning audits)."""
        self.module = self._trainer(x, y).eval()  # type: ignore[misc]


class TorchDetectorWrapper(_TorchVisionModel):
    """A torchvision-format detector under audit (see `estimators.detector_estimator`)."""

    task = Task.OBJECT_DETECTION

    def __init__(self, module: Any, *, attack_losses: tuple[str, ...] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(module, **kwargs)
        self.attack_losses = attack_losses

    def art_estimator(self) -> Any:
        from dii_hpc.audit.model.vision_estimators import detector_estimator

        return detector_estimator(self.module, input_shape=self.input_shape,
                                  nb_classes=self.nb_classes, clip_values=self.clip_values,
                                  attack_losses=self.attack_losses)

    def get_loss(self, x: np.ndarray, y: list[dict[str, Any]]) -> np.ndarray:
        """Per-image total loss (torchvision losses are batch means: one image at a time)."""
        est = self.art_estimator()
        x = np.asarray(x, dtype=np.float32)
        return np.asarray([float(est.compute_loss(x[i:i + 1], y[i:i + 1]))
                           for i in range(len(x))], dtype=np.float32)


class TorchSegmenterWrapper(_TorchVisionModel):
    """A per-pixel classifier under audit: (N, C, H, W) -> (N, nb_classes, H, W) logits."""

    task = Task.IMAGE_SEGMENTATION

    def art_estimator(self) -> Any:
        from dii_hpc.audit.model.vision_estimators import segmentation_estimator

        return segmentation_estimator(self.module, input_shape=self.input_shape,
                                      nb_classes=self.nb_classes, clip_values=self.clip_values)

    def predict_masks(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict(x)).argmax(1)

    def get_loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-image mean pixel cross-entropy."""
        return self.art_estimator().compute_loss(np.asarray(x, dtype=np.float32), y)
