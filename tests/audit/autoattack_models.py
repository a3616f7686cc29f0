"""Digits models built to trip AutoAttack's checks ("module:callable" factories).

Each wraps the trained demo CNN's module, so the clean model is the control:
- `noisy_model`: Gaussian noise added to the input in forward (a randomised defence);
- `softmax_model`: returns probabilities instead of logits;
- `masked_model`: quantises the input to 255 levels with `torch.round`, whose gradient is
  zero everywhere - white-box attacks see no gradient, queries still see the real model.
"""

from __future__ import annotations

from typing import Any


def _wrap(make: Any) -> Any:
    from dii_hpc.audit.model.wrappers import TorchModelWrapper
    from dii_hpc.examples.digits import digits_model

    base = digits_model()
    return TorchModelWrapper(make(base.module), task="image_classification",
                             input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0))


def _module(forward: Any) -> Any:
    import torch

    class Defended(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return forward(self.inner, x)

    return Defended


def noisy_model(sigma: float = 0.05) -> Any:
    import torch

    return _wrap(_module(lambda inner, x: inner(x + sigma * torch.randn_like(x))))


def softmax_model() -> Any:
    return _wrap(_module(lambda inner, x: inner(x).softmax(dim=1)))


def masked_model() -> Any:
    import torch

    return _wrap(_module(lambda inner, x: inner(torch.round(x * 255) / 255)))
