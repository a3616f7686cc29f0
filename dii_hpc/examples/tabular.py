"""Demo tabular models: MLPs on breast_cancer (classification) and diabetes (regression),
a deliberately overfittable MLP on generated noisy data (privacy demos), and a
scikit-learn logistic regression audited through the numpy-level protocol only.

Features are min-max scaled to [0, 1] (so clip_values and eps share one scale); the
diabetes target is standardised. Splits are fixed (seeded), training is deterministic and
cached (see `_train.cached_module`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.examples import _train

MLP_DEFAULTS = {"hidden": 64, "lr": 1e-2, "epochs": 60, "seed": 0, "batch_size": 64,
                "weight_decay": 0.0}


def _scaled_split(x: np.ndarray, y: np.ndarray, seed: int, test_size: float,
                  stratify: bool) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    lo, hi = x.min(axis=0), x.max(axis=0)
    x = ((x - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)
    return tuple(train_test_split(x, y, test_size=test_size, random_state=seed,
                                  stratify=y if stratify else None))


def load(name: str, seed: int = 0, test_size: float = 0.3) -> dict[str, Any]:
    """breast_cancer | diabetes | noisy -> dict of split arrays + feature names."""
    from sklearn import datasets

    if name == "breast_cancer":
        b = datasets.load_breast_cancer()
        x, y, names = b.data, b.target.astype(np.int64), list(b.feature_names)
    elif name == "diabetes":
        b = datasets.load_diabetes()
        x, names = b.data, list(b.feature_names)
        y = ((b.target - b.target.mean()) / b.target.std()).astype(np.float32)
    elif name == "noisy":
        x, y = datasets.make_classification(n_samples=600, n_features=20, n_informative=8,
                                            flip_y=0.3, random_state=seed)
        y, names = y.astype(np.int64), [f"f{i}" for i in range(20)]
    else:
        raise ValueError(f"unknown demo table {name!r}")
    x_tr, x_te, y_tr, y_te = _scaled_split(x, y, seed, test_size, name != "diabetes")
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te,
            "feature_names": names}


def build_mlp(n_in: int, n_out: int, hidden: int = 64) -> Any:
    import torch.nn as nn

    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, n_out))


def _mlp_model(table: str, weights: str | None, params: dict[str, Any]) -> Any:
    import torch

    from dii_hpc.audit.model.wrappers import TorchModelWrapper

    d = load(table)
    regression = table == "diabetes"
    n_in, n_out = d["x_train"].shape[1], 1 if regression else int(d["y_train"].max()) + 1
    recipe = {**MLP_DEFAULTS, **params}
    kw = {k: recipe[k] for k in ("lr", "epochs", "seed", "batch_size", "weight_decay")}

    def fresh() -> Any:
        torch.manual_seed(int(recipe["seed"]))
        return build_mlp(n_in, n_out, int(recipe["hidden"]))

    def trainer(x: np.ndarray, y: np.ndarray) -> Any:
        module = fresh()
        _train.fit(module, x, y, regression=regression, **kw)
        return module

    if weights:
        module, path = fresh(), weights
        module.load_state_dict(torch.load(weights, weights_only=True))
    else:
        module, cached = _train.cached_module(
            fresh, lambda m: _train.fit(m, d["x_train"], d["y_train"], regression=regression,
                                        **kw), {"name": f"{table}-mlp", **recipe})
        path = str(cached)
    task = "tabular_regression" if regression else "tabular_classification"
    return TorchModelWrapper(module, task=task, input_shape=(n_in,),
                             nb_classes=None if regression else n_out, clip_values=(0.0, 1.0),
                             trainer=trainer, weights_path=path)


def _data(table: str) -> Any:
    from dii_hpc.audit.model.wrappers import ArrayDataset

    d = load(table)
    return ArrayDataset(d["x_train"], d["y_train"], d["x_test"], d["y_test"],
                        feature_names=d["feature_names"])


def breast_cancer_model(weights: str | None = None, **params: Any) -> Any:
    """MLP classifier on breast_cancer (config: dii_hpc.examples.tabular:breast_cancer_model)."""
    return _mlp_model("breast_cancer", weights, params)


def breast_cancer_data() -> Any:
    return _data("breast_cancer")


def diabetes_model(weights: str | None = None, **params: Any) -> Any:
    """MLP regressor on diabetes (standardised target)."""
    return _mlp_model("diabetes", weights, params)


def diabetes_data() -> Any:
    return _data("diabetes")


def noisy_model(weights: str | None = None, **params: Any) -> Any:
    """MLP on 30%-label-noise generated data: hidden=128, epochs=150 memorises (overfit), weight_decay
    and few epochs do not: the privacy suite's overfit-vs-regularised demonstration."""
    return _mlp_model("noisy", weights, params)


def noisy_data() -> Any:
    return _data("noisy")


class SklearnLogReg:
    """A scikit-learn LogisticRegression exposing only the numpy-level audit methods.

    Gradients are analytic (softmax cross-entropy: dL/dx = W^T (p - onehot)), which is all
    ART's gradient attacks need; no torch anywhere.
    """

    task = "tabular_classification"
    clip_values = (0.0, 1.0)

    def __init__(self, x: np.ndarray, y: np.ndarray, C: float = 1.0) -> None:  # noqa: N803
        self.C = C
        self.input_shape = (x.shape[1],)
        self.nb_classes = int(y.max()) + 1
        self.fit(x, y)

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        self.clf = LogisticRegression(C=self.C, max_iter=1000).fit(x, y)

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        w, b = self.clf.coef_, self.clf.intercept_
        if self.nb_classes == 2:  # sklearn keeps one row for binary problems
            w, b = np.vstack([-w / 2, w / 2]), np.r_[-b / 2, b / 2]
        return w, b

    def predict(self, x: np.ndarray) -> np.ndarray:
        w, b = self._weights()
        return np.asarray(x, np.float64).reshape(len(x), -1) @ w.T + b

    def get_loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = self.predict(x)
        z = z - z.max(1, keepdims=True)
        return -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1)))

    def get_grad(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        z = self.predict(x)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), np.asarray(y)] -= 1.0
        return (p @ self._weights()[0]).reshape(np.shape(x))

    def get_class_grad(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        return self._weights()[0][np.asarray(label)].reshape(np.shape(x))


def breast_cancer_sklearn(C: float = 1.0) -> SklearnLogReg:  # noqa: N803
    d = load("breast_cancer")
    return SklearnLogReg(d["x_train"], d["y_train"], C=C)
