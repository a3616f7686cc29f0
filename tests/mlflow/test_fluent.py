"""dii_hpc.mlflow's behaviour where MLflow scripts rely on it: run stack, nesting, errors,
search_runs' columns and filters, artifacts, attaching to a launcher's run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dii_hpc.mlflow as mlflow
from dii_hpc.errors import BadInput, NotSupported
from dii_hpc.store.store import Store


@pytest.fixture(autouse=True)
def fresh(store_path: Path):
    mlflow.set_tracking_uri(store_path)
    mlflow.set_experiment("exp")
    yield
    while mlflow.active_run():
        mlflow.end_run()


def test_context_manager_nesting_and_statuses(store_path: Path) -> None:
    with mlflow.start_run(run_name="outer") as outer:
        with mlflow.start_run(run_name="inner", nested=True) as inner:
            assert mlflow.active_run() is inner
        assert mlflow.active_run() is outer
        with pytest.raises(BadInput, match="already active"):
            mlflow.start_run()
    with pytest.raises(ValueError), mlflow.start_run(run_name="bad") as bad:
        raise ValueError("x")
    store = Store(store_path)
    assert store.run(inner.info.run_id)["parent_run"] == outer.info.run_id
    assert store.run(outer.info.run_id)["status"] == "FINISHED"
    assert store.run(bad.info.run_id)["status"] == "FAILED"
    assert mlflow.get_run(bad.info.run_id).info.status == "FAILED"
    assert mlflow.last_active_run().info.run_id == bad.info.run_id


def test_a_log_call_without_a_run_starts_one_and_end_run_ends_it(store_path: Path) -> None:
    mlflow.log_metric("loss", 0.5)
    mlflow.log_metric("loss", 0.25)
    rid = mlflow.active_run().info.run_id
    mlflow.end_run(status="KILLED")
    assert mlflow.active_run() is None
    mlflow.end_run()  # nothing active: nothing happens, as in MLflow
    store = Store(store_path)
    assert store.run(rid)["status"] == "KILLED"
    assert store.metric_array(rid, "loss")[:, :2].tolist() == [[0, 0.5], [1, 0.25]]


def test_params_do_not_change_and_tags_are_strings(store_path: Path) -> None:
    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", 0.1) == 0.1
        mlflow.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(BadInput, match="param 'lr' .* already '0.1'"):
            mlflow.log_param("lr", 0.2)
        mlflow.set_tag("epochs", 3)
        mlflow.set_tag("gone", "x")
        mlflow.delete_tag("gone")
    rec = Store(store_path).run(run.info.run_id)
    assert rec["params"] == {"lr": 0.1} and rec["tags"]["epochs"] == "3"
    assert "gone" not in rec["tags"]


def test_unsupported_arguments_name_the_function() -> None:
    with mlflow.start_run():
        with pytest.raises(NotSupported, match=r"log_metric\(timestamp=...\)"):
            mlflow.log_metric("a", 1.0, timestamp=5)
        with pytest.raises(NotSupported, match=r"log_params\(run_id=...\)"):
            mlflow.log_params({"a": 1}, run_id="someone-else")
    with pytest.raises(BadInput, match="writes to a dii-hpc store"):
        mlflow.set_tracking_uri("http://mlflow.example:5000")


def test_artifacts_keep_their_mlflow_paths(store_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with mlflow.start_run() as run:
        mlflow.log_artifact(folder / "a.txt", artifact_path="files")
        mlflow.log_artifacts(folder, artifact_path="all")
        mlflow.log_dict({"k": [1, 2]}, "cfg.yaml")
        mlflow.log_dict({"k": [1, 2]}, "cfg.json")
        with pytest.raises(NotSupported, match="matplotlib figures"):
            mlflow.log_figure(object(), "x.png")
    arts = Store(store_path).artifacts(run.info.run_id)
    assert sorted(arts) == ["all/a.txt", "all/sub/b.txt", "cfg.json", "cfg.yaml", "files/a.txt"]
    assert Path(arts["cfg.yaml"]["path"]).read_text() == "k:\n- 1\n- 2\n"


def test_search_runs_filters_orders_and_lists() -> None:
    for lr in (0.1, 0.01, 0.001):
        with mlflow.start_run(run_name=f"lr{lr}"):
            mlflow.log_params({"lr": lr, "opt": "sgd" if lr > 0.005 else "adam"})
            mlflow.log_metric("acc", 1 - lr, step=0)
    df = mlflow.search_runs(filter_string="metrics.acc > 0.95 AND params.opt = 'sgd'")
    assert df["tags.mlflow.runName"].tolist() == ["lr0.01"]
    df = mlflow.search_runs(order_by=["metrics.acc ASC"])
    assert df["params.lr"].tolist() == ["0.1", "0.01", "0.001"]
    assert list(df.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri",
                                    "start_time", "end_time"]
    df = mlflow.search_runs(filter_string="attributes.status = 'FINISHED' and "
                                          "tags.`mlflow.runName` != 'lr0.1'")
    assert len(df) == 2
    runs = mlflow.search_runs(output_format="list", max_results=1, order_by=["metrics.acc DESC"])
    assert runs[0].data.params == {"lr": "0.001", "opt": "adam"}
    df = mlflow.search_runs(filter_string="tags.mlflow.runName LIKE 'lr0.0%'")
    assert sorted(df["tags.mlflow.runName"]) == ["lr0.001", "lr0.01"]
    assert len(mlflow.search_runs(experiment_ids=["nowhere"])) == 0


@pytest.mark.parametrize(("text", "message"), [
    ("params.lr = 0.1", "params.lr is a string, as in MLflow: quote the value ('0.1')"),
    ("metrics.acc > '0.9'", "metrics.acc compares with a number, got '0.9'"),
    ("metrics.acc > 0.9 OR metrics.acc < 0.1", "OR is not part of MLflow's search syntax"),
    ("lr = '0.1'", "unknown attribute 'lr' (attributes: run_id, run_name, status, "
                   "artifact_uri, user_id, start_time, end_time; a param is params.lr"),
    ("params.lr > '0.1'", "> does not apply to params.lr (it takes =, !=, LIKE, ILIKE"),
    ("run_name IN ('a')", "IN does not apply to run_name"),
    ("metrics.acc >", "expected a value after >"),
])
def test_a_filter_mlflow_refuses_is_one_line(text: str, message: str) -> None:
    with pytest.raises(BadInput) as err:
        mlflow.search_runs(filter_string=text)
    assert str(err.value).startswith(f"search_runs filter {text!r}: ")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_under_dii_hpc_run_the_first_start_run_is_the_launchers(store_path: Path,
                                                                tmp_path: Path) -> None:
    from tests.conftest import run_cli

    script = tmp_path / "train.py"
    script.write_text("import dii_hpc.mlflow as mlflow\n"
                      "with mlflow.start_run(run_name='r') as run:\n"
                      "    mlflow.log_metric('loss', 0.5, step=1)\n")
    res = run_cli("run", "--executor", "local", "-e", "launched", "--", sys.executable,
                  str(script))
    assert res.returncode == 0, res.stderr
    store = Store(store_path)
    [rec] = store.records("launched")
    assert store.experiments() == ["exp", "launched"]  # no second run anywhere
    assert rec["tags"]["mlflow.runName"] == "r" and rec["status"] == "FINISHED"
    assert store.metric_array(rec["run_id"], "loss")[:, :2].tolist() == [[1, 0.5]]


def test_importing_it_loads_no_mlflow_and_nothing_heavy() -> None:
    code = ("import sys, dii_hpc.mlflow; "
            "print(sorted(m for m in ('mlflow', 'torch', 'pandas', 'zarr') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_run_left_open_ends_finished_at_exit(store_path: Path, tmp_path: Path) -> None:
    import os

    script = tmp_path / "open.py"
    script.write_text("import dii_hpc.mlflow as mlflow\nmlflow.set_experiment('left')\n"
                      "mlflow.start_run()\nmlflow.log_metric('loss', 0.5, step=3)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=60)
    [rec] = Store(store_path).records("left")
    assert rec["status"] == "FINISHED" and rec["metrics"]["loss"]["step"] == 3


@pytest.mark.parametrize("uri", ["databricks", "databricks-uc", "sqlite:///x.db",
                                 "http://localhost:5000", "file:./mlruns", "{tmp}/mlruns"])
def test_a_tracking_uri_that_is_no_dii_hpc_store_is_refused(uri: str, tmp_path: Path,
                                                          store_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A service name is not a folder to create, and an MLflow store is not written into."""
    work = tmp_path / "work"
    (work / "mlruns" / "0").mkdir(parents=True)  # MLflow's own store, Default experiment
    (work / "mlruns" / "0" / "meta.yaml").write_text("name: Default\n")
    monkeypatch.chdir(work)
    before = sorted(str(p) for p in work.rglob("*"))
    text = uri.replace("{tmp}", str(work))
    with pytest.raises(BadInput) as err:
        mlflow.set_tracking_uri(text)
    assert str(err.value).startswith(f"set_tracking_uri({text!r}): ")
    assert "dii-hpc store folder" in str(err.value) and "\n" not in str(err.value)
    with mlflow.start_run() as run:  # still the store it had
        mlflow.log_metric("x", 1.0)
    assert Store(store_path).run(run.info.run_id)["status"] == "FINISHED"
    assert sorted(str(p) for p in work.rglob("*")) == before
