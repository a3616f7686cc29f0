"""Sources written by the real libraries: an mlruns folder (MLflow's file store) and
TensorBoard event folders (tensorboardX and torch.utils.tensorboard)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture()
def quiet_mlflow(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow

    yield mlflow
    mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture()
def mlruns(tmp_path: Path, quiet_mlflow: Any) -> dict[str, Any]:
    """Two experiments, a parent with a nested child, a failed run, artifacts, odd steps."""
    mlflow = quiet_mlflow
    root = tmp_path / "mlruns"
    mlflow.set_tracking_uri(root.as_uri())
    ids: dict[str, str] = {}
    mlflow.set_experiment("vision models")
    with mlflow.start_run(run_name="parent") as parent:
        ids["parent"] = parent.info.run_id
        mlflow.log_params({"lr": 0.01, "batch": 32, "optimizer": "adam", "wd": "1e-4"})
        mlflow.set_tags({"team": "vision", "stage": "dev"})
        for step in range(20):
            mlflow.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 20}, step=step)
        mlflow.log_metric("loss", 0.01, step=7)  # a second value at an earlier step
        mlflow.log_text("hello", "notes/readme.txt")
        mlflow.log_dict({"layers": [1, 2]}, "config.json")
        with mlflow.start_run(run_name="child", nested=True) as child:
            ids["child"] = child.info.run_id
            mlflow.log_metric("test_acc", 0.93)
    mlflow.set_experiment("tabular")
    with pytest.raises(RuntimeError), mlflow.start_run(run_name="broken") as broken:
        ids["broken"] = broken.info.run_id
        mlflow.log_param("depth", 3)
        mlflow.log_metric("loss", float("nan"), step=0)
        raise RuntimeError("diverged")
    return {"root": root, "uri": root.as_uri(), "ids": ids}
