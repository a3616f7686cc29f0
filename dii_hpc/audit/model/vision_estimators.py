"""ART estimators for torch detectors and segmentation networks (no torchvision needed).

ART's `PyTorchObjectDetector` imports torchvision when built and ART has no segmentation
estimator at all, so both are provided here as plain ART estimators:
- `detector_estimator(model, ...)`: any torch module in torchvision's detection format
  (train mode: `model(images, targets) -> {name: scalar loss}`; eval mode:
  `model(images) -> [{"boxes", "labels", "scores"}]`). It is an `ObjectDetectorMixin`, so
  ART's FGSM/PGD (numpy), DPatch and RobustDPatch accept it.
- `segmentation_estimator(model, ...)`: any module mapping (N, C, H, W) images to
  (N, K, H, W) logits; the loss is per-pixel cross-entropy, averaged per image, and the
  gradient is that of the sum over images (so a sample's gradient never depends on its
  batch). FGSM/PGD (numpy) run on it unchanged.
Inputs follow the module's device (CPU or CUDA; only CPU has been exercised here) and
results come back as numpy arrays.

The estimators subclass ART's, so this module imports ART: import it where an estimator is
built (the audit wrappers do), never at the top of a module. Being top-level classes, they
pickle (a process pool or an MPI rank can receive one) and an IDE can see them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art.estimators.object_detection.object_detector import ObjectDetectorMixin

from dii_hpc.audit.model import vision_validate as validate


def detector_estimator(model: Any, *, input_shape: tuple[int, ...], nb_classes: int,
                       clip_values: tuple[float, float] = (0.0, 1.0),
                       attack_losses: tuple[str, ...] | None = None) -> TorchDetectorEstimator:
    """ART object detector over a torchvision-format torch module."""
    return TorchDetectorEstimator(model, tuple(input_shape), int(nb_classes), clip_values,
                                  attack_losses)


def segmentation_estimator(model: Any, *, input_shape: tuple[int, ...], nb_classes: int,
                           clip_values: tuple[float, float] = (0.0, 1.0),
                           ) -> TorchSegmentationEstimator:
    """ART estimator (loss gradients) over a torch module returning per-pixel logits."""
    return TorchSegmentationEstimator(model, tuple(input_shape), int(nb_classes), clip_values)


def _frozen_train(model: Any) -> None:
    """Train mode (torchvision computes losses only there) with BatchNorm/Dropout frozen,
    so that an attack's gradient sees the same network as `predict`."""
    import torch

    model.train()
    for m in model.modules():
        if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout)):
            m.eval()


def _device(model: Any) -> Any:
    """Where the module's weights live: inputs go there, results come back to numpy."""
    import torch

    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def _tensor(model: Any, x: Any, grad: bool = False) -> Any:
    import torch

    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(_device(model))
    return xt.clone().requires_grad_(True) if grad else xt


def _torch_targets(model: Any, y: Any) -> list[dict[str, Any]]:
    import torch

    dev = _device(model)
    return [{"boxes": torch.as_tensor(np.asarray(t["boxes"], dtype=np.float32)).reshape(-1, 4)
             .to(dev), "labels": torch.as_tensor(np.asarray(t["labels"])).long().reshape(-1)
             .to(dev)} for t in y]


class TorchDetectorEstimator(ObjectDetectorMixin, LossGradientsMixin, BaseEstimator):
    """ART object detector for torchvision-format modules (boxes [x1, y1, x2, y2] px)."""

    estimator_params = BaseEstimator.estimator_params + ["attack_losses"]

    def __init__(self, model: Any, input_shape: tuple[int, ...], nb_classes: int,
                 clip_values: tuple[float, float],
                 attack_losses: tuple[str, ...] | None) -> None:
        super().__init__(model=model, clip_values=tuple(clip_values), preprocessing=None)
        self._shape, self.nb_classes = input_shape, nb_classes
        self.attack_losses = tuple(attack_losses) if attack_losses else None

    @property
    def native_label_is_pytorch_format(self) -> bool:
        return True

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def channels_first(self) -> bool:
        return True

    def predict(self, x: np.ndarray, batch_size: int = 64,
                **kwargs: Any) -> list[dict[str, np.ndarray]]:
        import torch

        self._model.eval()
        out: list[dict[str, np.ndarray]] = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                chunk = _tensor(self._model, x[i:i + batch_size])
                dets = self._model(chunk)
                validate.check_detections(dets, len(chunk))
                out += [{k: d[k].detach().cpu().numpy().astype(dtype) for k, dtype in
                         (("boxes", np.float32), ("labels", np.int64),
                          ("scores", np.float32))} for d in dets]
        return out

    def _losses(self, xt: Any, y: Any) -> dict[str, Any]:
        _frozen_train(self._model)
        try:
            losses = self._model(xt, _torch_targets(self._model, y))
        finally:
            self._model.eval()
        validate.check_losses(losses)
        return losses

    def _total(self, losses: dict[str, Any]) -> Any:
        keys = self.attack_losses or tuple(losses)
        unknown = [k for k in keys if k not in losses]
        if unknown:
            from dii_hpc.errors import BadInput

            raise BadInput(f"attack_losses names {unknown[0]!r} but the detector returns "
                           f"{', '.join(losses)}")
        return sum(losses[k] for k in keys)

    def loss_gradient(self, x: np.ndarray, y: Any, **kwargs: Any) -> np.ndarray:
        xt = _tensor(self._model, x, grad=True)
        self._total(self._losses(xt, y)).backward()
        return xt.grad.cpu().numpy().astype(np.float32)

    def compute_losses(self, x: np.ndarray, y: Any) -> dict[str, np.ndarray]:
        import torch

        with torch.no_grad():
            losses = self._losses(_tensor(self._model, x), y)
        return {k: v.cpu().numpy() for k, v in losses.items()}

    def compute_loss(self, x: np.ndarray, y: Any, **kwargs: Any) -> np.ndarray:
        import torch

        with torch.no_grad():
            total = self._total(self._losses(_tensor(self._model, x), y))
        return np.asarray(total.cpu().numpy())

    def fit(self, x: np.ndarray, y: Any, **kwargs: Any) -> None:
        raise NotImplementedError("retrain through the audit wrapper's fit(x, targets)")

    def get_activations(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError


class TorchSegmentationEstimator(LossGradientsMixin, BaseEstimator):
    """ART estimator for per-pixel classifiers; `y` is (N, H, W) ids or (N, K, H, W)."""

    estimator_params = BaseEstimator.estimator_params

    def __init__(self, model: Any, input_shape: tuple[int, ...], nb_classes: int,
                 clip_values: tuple[float, float]) -> None:
        super().__init__(model=model, clip_values=tuple(clip_values), preprocessing=None)
        self._shape, self.nb_classes = input_shape, nb_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def channels_first(self) -> bool:
        return True

    def predict(self, x: np.ndarray, batch_size: int = 64, **kwargs: Any) -> np.ndarray:
        """Logits (N, K, H, W); ART's untargeted attacks use them as labels when y=None."""
        import torch

        self._model.eval()
        outs = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                outs.append(self._model(_tensor(self._model, x[i:i + batch_size]))
                            .cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, self.nb_classes,
                                                           *self._shape[-2:]), np.float32)

    def _per_sample(self, xt: Any, y: Any) -> Any:
        import torch

        y = np.asarray(y)
        yt = torch.as_tensor(y.argmax(1) if y.ndim == 4 else y).long().to(xt.device)
        self._model.eval()
        loss = torch.nn.functional.cross_entropy(self._model(xt), yt, reduction="none")
        return loss.mean(dim=(1, 2))

    def loss_gradient(self, x: np.ndarray, y: Any, **kwargs: Any) -> np.ndarray:
        xt = _tensor(self._model, x, grad=True)
        self._per_sample(xt, y).sum().backward()
        return xt.grad.cpu().numpy().astype(np.float32)

    def compute_loss(self, x: np.ndarray, y: Any, **kwargs: Any) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._per_sample(_tensor(self._model, x), y).cpu().numpy()

    def fit(self, x: np.ndarray, y: Any, **kwargs: Any) -> None:
        raise NotImplementedError("retrain through the audit wrapper's fit(x, masks)")

    def get_activations(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError
