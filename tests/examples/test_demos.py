"""Demo models and data: the Executor contract (train_function/get_dataset) and factories."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DII_HPC_CACHE", os.environ.get("DII_HPC_TEST_CACHE")
                       or str(tmp_path_factory.mktemp("cache")))


def test_digits_split_is_deterministic_and_scaled() -> None:
    from dii_hpc.examples.digits import Digits

    a, b = Digits().get_dataset(), Digits().get_dataset()
    assert a["x_train"].shape == (1437, 1, 8, 8) and a["x_test"].shape == (360, 1, 8, 8)
    assert a["x_train"].dtype == np.float32 and 0.0 <= a["x_train"].min() <= a["x_train"].max() <= 1
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert Digits(n_train=100).get_dataset()["x_train"].shape[0] == 100


def test_cnn_train_function_logs_epochs_and_saves_weights(store_path: Path) -> None:
    import torch

    import dii_hpc
    from dii_hpc.examples.digits import CNN, Digits, build_cnn

    data = Digits().get_dataset()
    with dii_hpc.start_run("digits", params={"epochs": 3}) as run:
        out = CNN(width=8).train_function(data, run=run, lr=3e-3, epochs=3, seed=0,
                                          batch_size=64)
    assert set(out) == {"val_acc", "val_loss", "model"} and out["val_acc"] > 0.8
    module = build_cnn(8)
    module.load_state_dict(torch.load(out["model"], weights_only=True))
    history = dii_hpc.Store(store_path).metric_history(run.id, "val_acc")
    assert list(history["step"]) == [0, 1, 2]
    assert history["value"].iloc[-1] == pytest.approx(out["val_acc"])
    again = CNN(width=8).train_function(data, epochs=3, seed=0, out_dir=str(store_path.parent))
    assert again["val_acc"] == out["val_acc"]  # same recipe, same seed, same model


def test_digits_factory_loads_given_weights(tmp_path: Path) -> None:
    from dii_hpc.examples.digits import CNN, Digits, digits_model

    data = Digits().get_dataset()
    out = CNN(width=8).train_function(data, epochs=1, out_dir=str(tmp_path))
    model = digits_model(weights=out["model"], width=8)
    assert model.weights_path == out["model"]
    assert model.predict(data["x_test"][:5]).shape == (5, 10)


def test_gunpoint_is_bundled_ucr_split() -> None:
    from dii_hpc.examples.timeseries import GunPoint

    d = GunPoint().get_dataset()
    assert d["x_train"].shape == (50, 1, 150) and d["x_test"].shape == (150, 1, 150)
    assert set(np.unique(d["y_train"])) == {0, 1}
    assert d["x_test"].min() > -3 and d["x_test"].max() < 3


def test_tabular_tables_are_scaled() -> None:
    from dii_hpc.examples.tabular import load

    for name in ("breast_cancer", "diabetes", "noisy"):
        d = load(name)
        assert d["x_train"].min() >= 0 and d["x_train"].max() <= 1
        assert len(d["feature_names"]) == d["x_train"].shape[1]
    y = load("diabetes")["y_train"]
    assert abs(float(y.mean())) < 0.2 and y.dtype == np.float32
