"""Ready-made wrappers: torch modules and in-memory arrays.

`TorchModelWrapper` implements the numpy protocol *and* hands ART its native PyTorch
estimator (`art_estimator`), so torch models take ART's fast path (PGD in torch, no numpy
round trip per step). torch is imported inside methods: the CLI must stay light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dii_hpc.audit.model.protocols import Task


class ArrayDataset:
    """An audit dataset over numpy arrays (what the demo factories return)."""

    def __init__(self, x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                 feature_names: list[str] | None = None,
                 categorical: list[int] | None = None) -> None:
        self.x_train, self.y_train = np.asarray(x_train), np.asarray(y_train)
        self.x_test, self.y_test = np.asarray(x_test), np.asarray(y_test)
        self.feature_names, self.categorical = feature_names, categorical or []

    def get_train_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x_train, self.y_train

    def get_test_data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x_test, self.y_test


class TorchModelWrapper:
    """A torch `nn.Module` seen as an `AuditModel`.

    `trainer(x, y) -> nn.Module` (optional) retrains from scratch with the model's own
    hyper-parameters; it backs `fit`, which poisoning audits need. `feature_layer` names the
    sub-module whose output `get_activations` returns (default: the input of the last layer).
    """

    def __init__(self, module: Any, *, task: Task | str, input_shape: tuple[int, ...],
                 nb_classes: int | None = None, clip_values: tuple[float, float] = (0.0, 1.0),
                 trainer: Callable[[np.ndarray, np.ndarray], Any] | None = None,
                 feature_layer: str | None = None, weights_path: str | None = None) -> None:
        self.module = module.eval()
        self.task = Task.parse(task)
        self.input_shape = tuple(input_shape)
        self.nb_classes = nb_classes
        self.clip_values = (float(clip_values[0]), float(clip_values[1]))
        self._trainer = trainer
        self.feature_layer = feature_layer
        self.weights_path = weights_path
        if trainer is None:
            self.fit = None  # type: ignore[assignment]  # absent: `require` names it

    # --- numpy protocol -------------------------------------------------------------
    def _loss_fn(self) -> Any:
        import torch

        if self.task.is_regression:
            return torch.nn.MSELoss(reduction="none")
        return torch.nn.CrossEntropyLoss(reduction="none")

    def _device(self) -> Any:
        """Where the module lives (a CUDA module is audited on its GPU)."""
        param = next(iter(self.module.parameters()), None)
        return param.device if param is not None else "cpu"

    def _tensors(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[Any, Any]:
        import torch

        device = self._device()
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(device)
        if y is None:
            return xt, None
        dtype = torch.float32 if self.task.is_regression else torch.long
        return xt, torch.as_tensor(np.asarray(y)).to(device=device, dtype=dtype)

    def _forward(self, xt: Any) -> Any:
        out = self.module(xt)
        return out.reshape(-1) if self.task.is_regression else out

    def predict(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        import torch

        outs = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                outs.append(self._forward(self._tensors(x[i:i + batch_size])[0]).cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0,))

    def get_loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        import torch

        xt, yt = self._tensors(x, y)
        with torch.no_grad():  # float64: float32 losses of well-fit samples tie at exactly 0
            out = self._forward(xt).double()
            return self._loss_fn()(out, yt.double() if self.task.is_regression else yt).cpu().numpy()

    def get_grad(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xt, yt = self._tensors(x, y)
        xt.requires_grad_(True)
        self._loss_fn()(self._forward(xt), yt).sum().backward()
        return xt.grad.cpu().numpy()

    def get_class_grad(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        """d logit[label] / d x per sample (what Carlini-Wagner and DeepFool use)."""
        import torch

        xt = self._tensors(x)[0].requires_grad_(True)
        out = self._forward(xt)
        index = torch.as_tensor(np.asarray(label)).long().view(-1, 1).to(out.device)
        out.gather(1, index).sum().backward()
        return xt.grad.cpu().numpy()

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Retrain from scratch (poisoning audits): same recipe, different data."""
        self.module = self._trainer(x, y).eval()  # type: ignore[misc]

    def get_activations(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Features feeding the last layer (or `feature_layer`'s output), flattened."""
        import torch

        layer = self._feature_module()
        grabbed: list[Any] = []

        def hook(_m: Any, inputs: Any, output: Any) -> None:
            grabbed.append((output if self.feature_layer else inputs[0]).detach())

        handle = layer.register_forward_hook(hook)
        try:
            with torch.no_grad():
                for i in range(0, len(x), batch_size):
                    self.module(self._tensors(x[i:i + batch_size])[0])
        finally:
            handle.remove()
        return torch.cat(grabbed).reshape(len(x), -1).cpu().numpy()

    def _feature_module(self) -> Any:
        if self.feature_layer:
            return dict(self.module.named_modules())[self.feature_layer]
        leaves = [m for m in self.module.modules() if not list(m.children())]
        return [m for m in leaves if any(p.requires_grad for p in m.parameters())][-1]

    # --- ART fast path --------------------------------------------------------------
    def art_estimator(self) -> Any:
        """ART's own PyTorchClassifier/PyTorchRegressor over the same module."""
        import torch

        if self.task.is_regression:
            from art.estimators.regression.pytorch import PyTorchRegressor

            return PyTorchRegressor(model=_Flatten(self.module), loss=torch.nn.MSELoss(),
                                    input_shape=self.input_shape, clip_values=self.clip_values,
                                    device_type="cpu")
        from art.estimators.classification import PyTorchClassifier

        return PyTorchClassifier(model=self.module, loss=torch.nn.CrossEntropyLoss(),
                                 input_shape=self.input_shape, nb_classes=self.nb_classes,
                                 clip_values=self.clip_values, device_type="cpu")


def _Flatten(module: Any) -> Any:  # noqa: N802 - builds a module, reads like a class
    """Regressors output (N, 1) or (N,); ART's regressor compares against (N,) targets."""
    import torch

    class _Squeeze(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x).reshape(-1)

    return _Squeeze(module)
