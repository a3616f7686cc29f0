"""Broken detectors and datasets for the bad-input tests ("module:callable" in configs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.examples import shapes


class _Data:
    def __init__(self, train: Any, test: Any) -> None:
        self.train, self.test = train, test

    def get_train_data(self) -> Any:
        return self.train

    def get_test_data(self) -> Any:
        return self.test


def _det(n: int = 8) -> tuple[np.ndarray, list[dict[str, Any]]]:
    x, _, t = shapes.make_shapes(n, seed=1)
    return x, t


def boxes_outside() -> Any:
    x, t = _det()
    t[2] = {"boxes": np.array([[20.0, 20.0, 40.0, 30.0]], np.float32),
            "labels": np.array([1])}
    return _Data(_det(), (x, t))


def label_too_big() -> Any:
    x, t = _det()
    t[0] = {**t[0], "labels": np.full(len(t[0]["labels"]), 7)}
    return _Data(_det(), (x, t))


def masks_wrong_shape() -> Any:
    x, m, _ = shapes.make_shapes(8, seed=1)
    return _Data((x, m), (x, m[:, :16, :16]))


def mask_label_too_big() -> Any:
    x, m, _ = shapes.make_shapes(8, seed=1)
    bad = m.copy()
    bad[0, 0, 0] = 9
    return _Data((x, m), (x, bad))


def tensor_detector() -> Any:
    """A 'detector' that returns a plain tensor instead of torchvision's list of dicts."""
    import torch

    from dii_hpc.audit.model.vision_wrappers import TorchDetectorWrapper

    class Bad(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, images: Any, targets: Any = None) -> Any:
            return self.conv(images)

    return TorchDetectorWrapper(Bad(), input_shape=(1, 32, 32), nb_classes=4)


def small_detection_data() -> Any:
    return _Data(_det(), _det())
