"""`dii-hpc import mlflow`: an mlruns folder written by MLflow itself, imported point by point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.errors import BadInput
from dii_hpc.interop.ingest import ID_TAG
from dii_hpc.interop.mlflow_import import import_mlflow, parse_param
from dii_hpc.store.store import Store
from tests.conftest import tree_snapshot


def _by_source(store: Store) -> dict[str, dict[str, Any]]:
    return {r["tags"][ID_TAG].split(":", 1)[1]: r for r in store.records()}


def test_every_point_param_tag_and_artifact_arrives(mlruns: dict[str, Any], store_path: Path,
                                                    quiet_mlflow: Any) -> None:
    store = Store(store_path)
    out = import_mlflow(store, str(mlruns["root"]))
    assert (out.created, out.skipped) == (3, 0)
    assert sorted(store.experiments()) == ["tabular", "vision_models"]
    runs = _by_source(store)
    client = quiet_mlflow.MlflowClient(tracking_uri=mlruns["uri"])
    for source_id, record in runs.items():
        theirs = client.get_run(source_id)
        assert record["params"] == {k: parse_param(v) for k, v in theirs.data.params.items()}
        assert {k: v for k, v in record["tags"].items() if not k.startswith("import.")} \
            == theirs.data.tags
        for key in theirs.data.metrics:
            hist = client.get_metric_history(source_id, key)
            expect = sorted(((m.step, m.value, m.timestamp / 1000) for m in hist),
                            key=lambda p: (p[0], p[2]))
            ours = store.metric_array(record["run_id"], key)
            np.testing.assert_array_equal(ours, np.array(expect))  # NaN == NaN here
        assert record["start_time"] == theirs.info.start_time / 1000
        assert record["end_time"] == theirs.info.end_time / 1000
    parent, child, broken = (runs[mlruns["ids"][k]] for k in ("parent", "child", "broken"))
    assert parent["params"] == {"lr": 0.01, "batch": 32, "optimizer": "adam", "wd": 0.0001}
    assert store.metric_array(parent["run_id"], "loss").shape == (21, 3)
    assert child["parent_run"] == parent["run_id"]
    assert broken["status"] == "FAILED" and broken["experiment"] == "tabular"
    arts = store.artifacts(parent["run_id"])
    assert sorted(arts) == ["config.json", "notes/readme.txt"]
    assert Path(arts["notes/readme.txt"]["path"]).read_text() == "hello"


def test_a_second_import_changes_nothing(mlruns: dict[str, Any], store_path: Path) -> None:
    store = Store(store_path)
    import_mlflow(store, mlruns["uri"])
    before = tree_snapshot(store_path)
    again = import_mlflow(Store(store_path), str(mlruns["root"]), experiment="ignored")
    assert (again.created, again.updated, again.skipped, again.points) == (0, 0, 3, 0)
    assert tree_snapshot(store_path) == before


def test_a_run_still_running_gets_only_its_new_points(mlruns: dict[str, Any], store_path: Path,
                                                      quiet_mlflow: Any) -> None:
    from mlflow.entities import Metric

    client = quiet_mlflow.MlflowClient(tracking_uri=mlruns["uri"])
    exp = client.get_experiment_by_name("tabular").experiment_id
    live = client.create_run(exp, run_name="live").info.run_id
    client.log_batch(live, metrics=[Metric("loss", 1.0 / (s + 1), 1000 * s, s) for s in range(5)])
    store = Store(store_path)
    import_mlflow(store, mlruns["uri"], experiment="moved")
    record = _by_source(store)[live]
    assert record["status"] == "RUNNING" and record["experiment"] == "moved"
    client.log_batch(live, metrics=[Metric("loss", 0.1, 1000 * s, s) for s in range(5, 8)])
    client.set_terminated(live)
    again = import_mlflow(Store(store_path), mlruns["uri"], experiment="moved")
    assert (again.updated, again.points, again.skipped) == (1, 3, 3)
    record = _by_source(Store(store_path))[live]
    assert record["status"] == "FINISHED"
    assert Store(store_path).metric_array(record["run_id"], "loss")[:, 0].tolist() == list(range(8))


def test_params_that_read_as_numbers_become_numbers() -> None:
    assert [parse_param(t) for t in ("0.01", "32", "True", "1e-3", "adam", "007", "nan")] == \
        [0.01, 32, True, 0.001, "adam", "007", "nan"]


@pytest.mark.parametrize("make,why", [
    (lambda p: p / "absent", "does not exist"),
    (lambda p: (p / "plain").mkdir() or (p / "plain"), "not an MLflow store"),
    (lambda p: (p / "f.txt").write_text("x") and (p / "f.txt"), "not an MLflow store"),
    (lambda p: f"sqlite:///{p}/none.db", "no SQLite file"),
    (lambda p: "s3x://bucket/path", "unknown URI scheme"),
])
def test_a_source_that_is_not_an_mlflow_store_is_refused(tmp_path: Path, store_path: Path,
                                                         make: Any, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        import_mlflow(Store(store_path), str(make(tmp_path)))
    assert not store_path.exists()
