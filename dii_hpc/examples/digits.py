"""Demo: a small CNN on scikit-learn's digits (8x8 grey images scaled to [0, 1]).

Three faces of the same model:
- `Digits` (a DatasetLoader) and `CNN` (a Model with `train_function`) for the Executor
  and the quickstart;
- `digits_model(...)` / `digits_data(...)`, "module:callable" factories for audit configs.
The recipe is deterministic: same params and seed, same weights (cached after first use).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.examples import _train

DEFAULTS = {"width": 16, "lr": 3e-3, "epochs": 15, "seed": 0, "batch_size": 64,
            "weight_decay": 0.0}


class Digits:
    """Deterministic stratified split of the 1797 digits; `n_train` subsamples the train set."""

    def __init__(self, test_size: float = 0.2, seed: int = 0, n_train: int | None = None) -> None:
        self.test_size, self.seed, self.n_train = test_size, seed, n_train

    def get_dataset(self) -> dict[str, np.ndarray]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        x = (bunch.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
        y = bunch.target.astype(np.int64)
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=self.test_size,
                                                  random_state=self.seed, stratify=y)
        if self.n_train is not None:
            x_tr, y_tr = x_tr[: self.n_train], y_tr[: self.n_train]
        return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def build_cnn(width: int = 16) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 16, 64), nn.ReLU(), nn.Linear(64, 10),
    )


class CNN:
    """The Executor-facing Model: `CNN(width=16).train_function(data, run, lr=..., ...)`."""

    def __init__(self, width: int = 16, **_: Any) -> None:
        self.width = width

    def train_function(self, data: Any, run: Any = None, lr: float = 3e-3, epochs: int = 15,
                       seed: int = 0, batch_size: int = 64, weight_decay: float = 0.0,
                       out_dir: str | None = None, **_: Any) -> dict[str, Any]:
        """Train, log per-epoch metrics on `run`, save the state_dict, return val metrics."""
        import torch

        x_tr, y_tr, x_te, y_te = _train.split(data)
        torch.manual_seed(seed)
        module = build_cnn(self.width)

        def log(epoch: int, metrics: dict[str, float]) -> None:
            if run is not None:
                run.log_metrics(metrics, step=epoch)

        last = _train.fit(module, x_tr, y_tr, lr=lr, epochs=epochs, seed=seed,
                          batch_size=batch_size, weight_decay=weight_decay,
                          val=(x_te, y_te), on_epoch=log)
        path = _train.save_state(module, _train.out_path(run, "model.pt", out_dir))
        return {"val_acc": last["val_acc"], "val_loss": last["val_loss"], "model": str(path)}


def digits_data(n_train: int | None = None, seed: int = 0, test_size: float = 0.2) -> Any:
    """Audit dataset factory (config: `data: dii_hpc.examples.digits:digits_data`)."""
    from dii_hpc.audit.model.wrappers import ArrayDataset

    d = Digits(test_size=test_size, seed=seed, n_train=n_train).get_dataset()
    return ArrayDataset(d["x_train"], d["y_train"], d["x_test"], d["y_test"])


def digits_model(weights: str | None = None, n_train: int | None = None, **params: Any) -> Any:
    """Audit model factory: load `weights`, or train the recipe (cached) when None.

    `params` override DEFAULTS (width, lr, epochs, seed, batch_size, weight_decay); the
    wrapper's `fit` retrains the same recipe on new data (poisoning audits).
    """
    import torch

    from dii_hpc.audit.model.wrappers import TorchModelWrapper

    recipe = {**DEFAULTS, **params}
    width = int(recipe["width"])
    train_kw = {k: recipe[k] for k in ("lr", "epochs", "seed", "batch_size", "weight_decay")}

    def trainer(x: np.ndarray, y: np.ndarray) -> Any:
        torch.manual_seed(int(recipe["seed"]))
        module = build_cnn(width)
        _train.fit(module, x, y, **train_kw)
        return module

    if weights:
        module = build_cnn(width)
        module.load_state_dict(torch.load(weights, weights_only=True))
        path = weights
    else:
        d = Digits(n_train=n_train, seed=0).get_dataset()
        module, cached = _train.cached_module(
            lambda: (torch.manual_seed(int(recipe["seed"])), build_cnn(width))[1],
            lambda m: _train.fit(m, d["x_train"], d["y_train"], **train_kw),
            {"name": "digits-cnn", "n_train": n_train, **recipe})
        path = str(cached)
    return TorchModelWrapper(module, task="image_classification", input_shape=(1, 8, 8),
                             nb_classes=10, clip_values=(0.0, 1.0), trainer=trainer,
                             weights_path=path)


def drift_tables(folder: str) -> list[str]:
    """Digits pixels as CSV tables for drift monitors: reference.csv (the train split),
    current-clean.csv (the test split) and current-shifted.csv (its middle rows brightened,
    a sensor/gain change); and current-images.npz, the test split as the CNN's input
    (x: n x 1 x 8 x 8) for `predict`. Used by the quickstart and configs/pipeline-digits.yaml."""
    from pathlib import Path

    import pandas as pd

    d = Digits().get_dataset()
    cols = [f"px{i:02d}" for i in range(64)]
    ref = pd.DataFrame(d["x_train"].reshape(len(d["x_train"]), -1), columns=cols)
    cur = pd.DataFrame(d["x_test"].reshape(len(d["x_test"]), -1), columns=cols)
    shifted = cur.copy()
    bright = cols[16:48]
    shifted[bright] = np.clip(shifted[bright] * 1.6 + 0.15, 0, 1)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "reference.csv", out / "current-clean.csv", out / "current-shifted.csv"]
    for frame, path in zip((ref, cur, shifted), paths, strict=True):
        frame.to_csv(path, index=False)
    paths.append(out / "current-images.npz")
    np.savez(paths[-1], x=d["x_test"])
    return [str(p) for p in paths]


if __name__ == "__main__":  # python -m dii_hpc.examples.digits drift-tables FOLDER
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "drift-tables":
        sys.exit("usage: python -m dii_hpc.examples.digits drift-tables FOLDER")
    print("\n".join(drift_tables(sys.argv[2])))
