"""`dii-hpc export EXP --to mlflow URI`: runs land in an MLflow SQLite store, read back with
MLflow's own client, and a second export sends only what is new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dii_hpc
from dii_hpc.errors import BadInput, NotFound
from dii_hpc.interop.mlflow_export import RUN_TAG, export_mlflow
from dii_hpc.store.store import Store


@pytest.fixture()
def runs(store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # whatever MLflow writes relative to the cwd stays in tmp
    ids = {}
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00weights")
    with dii_hpc.start_run("digits", params={"lr": 0.01, "opt": {"name": "adam"}},
                           tags={"name": "base"}) as run:
        for step in range(30):
            run.log_metrics({"loss": 1 / (step + 1), "acc": step / 30}, step=step)
        run.log_artifact(model, name="ckpt/model.bin")
        ids["base"] = run.id
    with dii_hpc.start_run("digits", params={"lr": 0.1}, parent_run=ids["base"]) as run:
        run.log_metric("loss", 3.0, step=0)
        ids["child"] = run.id
    return ids


def _mlflow_runs(quiet_mlflow: Any, uri: str) -> tuple[Any, dict[str, Any]]:
    client = quiet_mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("digits")
    found = client.search_runs([exp.experiment_id])
    return client, {r.data.tags[RUN_TAG]: r for r in found}


def test_runs_arrive_in_mlflow_point_by_point(runs: dict[str, str], store_path: Path,
                                              tmp_path: Path, quiet_mlflow: Any) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = export_mlflow(Store(store_path), "digits", uri)
    assert (out.created, out.points, out.artifacts) == (2, 61, 1)
    client, found = _mlflow_runs(quiet_mlflow, uri)
    store = Store(store_path)
    base = found[runs["base"]]
    assert base.data.params == {"lr": "0.01", "opt.name": "adam"}
    assert base.data.tags["mlflow.runName"] == "base" and base.info.status == "FINISHED"
    for key in ("loss", "acc"):
        ours = store.metric_array(runs["base"], key)
        theirs = client.get_metric_history(base.info.run_id, key)
        assert [(m.step, m.value, m.timestamp) for m in sorted(theirs, key=lambda m: m.step)] == \
            [(int(s), v, int(round(t * 1000))) for s, v, t in ours.tolist()]
    assert base.info.start_time == round(store.run(runs["base"])["start_time"] * 1000)
    child = found[runs["child"]]
    assert child.data.tags["mlflow.parentRunId"] == base.info.run_id
    got = Path(client.download_artifacts(base.info.run_id, "ckpt/model.bin", str(tmp_path)))
    assert got.read_bytes() == b"\x00weights"
    assert list((tmp_path / "mlflow-artifacts" / "digits").rglob("model.bin"))  # beside the DB


def test_a_second_export_sends_only_what_is_new(runs: dict[str, str], store_path: Path,
                                                tmp_path: Path, quiet_mlflow: Any) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export_mlflow(Store(store_path), "digits", uri)
    again = export_mlflow(Store(store_path), "digits", uri)
    assert (again.created, again.updated, again.skipped, again.points) == (0, 0, 2, 0)
    with dii_hpc.start_run("digits", run_id=runs["child"]) as run:  # resumed, e.g. requeued
        run.log_metric("loss", 2.0, step=1)
    more = export_mlflow(Store(store_path), "digits", uri)
    assert (more.created, more.updated, more.points) == (0, 1, 1)
    client, found = _mlflow_runs(quiet_mlflow, uri)
    assert len(found) == 2
    history = client.get_metric_history(found[runs["child"]].info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(0, 3.0), (1, 2.0)]


def test_a_run_changed_without_a_new_end_time_is_updated(runs: dict[str, str], store_path: Path,
                                                         tmp_path: Path,
                                                         quiet_mlflow: Any) -> None:
    """The export decided "already there" by status and end time (in ms): a run that gained
    points and kept its end time (a re-import adds points to an ended run and keeps the end
    MLflow gave it; a resumed run may end within the same millisecond) was skipped."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export_mlflow(Store(store_path), "digits", uri)
    ended = Store(store_path).run(runs["child"])["end_time"]
    with dii_hpc.start_run("digits", run_id=runs["child"]) as run:
        run.log_metric("loss", 2.0, step=1)
    Store(store_path).update_run(runs["child"], end_time=ended)
    more = export_mlflow(Store(store_path), "digits", uri)
    assert (more.created, more.updated, more.skipped, more.points) == (0, 1, 1, 1)
    client, found = _mlflow_runs(quiet_mlflow, uri)
    history = client.get_metric_history(found[runs["child"]].info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(0, 3.0), (1, 2.0)]


def test_bad_targets_are_refused(runs: dict[str, str], store_path: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="unknown experiment 'nope'"):
        export_mlflow(Store(store_path), "nope", f"sqlite:///{tmp_path}/m.db")
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "draft.tex").write_text("x")
    with pytest.raises(BadInput, match="not an MLflow store"):
        export_mlflow(Store(store_path), "digits", str(tmp_path / "papers"))


def test_round_trip_through_sqlite_keeps_every_point(runs: dict[str, str], store_path: Path,
                                                     tmp_path: Path) -> None:
    from dii_hpc.interop.mlflow_import import import_mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export_mlflow(Store(store_path), "digits", uri)
    back = Store(tmp_path / "back")
    out = import_mlflow(back, str(tmp_path / "mlflow.db"))  # a SQLite file given as a path
    assert out.created == 2
    original = Store(store_path)
    by_origin = {r["tags"][RUN_TAG]: r for r in back.records("digits")}
    for rid in runs.values():
        copy = by_origin[rid]["run_id"]
        for key in original.metric_keys(rid):
            ours, again = original.metric_array(rid, key), back.metric_array(copy, key)
            assert again[:, :2].tolist() == ours[:, :2].tolist()
            assert abs(again[:, 2] - ours[:, 2]).max() < 1e-3  # MLflow keeps milliseconds
    assert by_origin[runs["child"]]["parent_run"] == by_origin[runs["base"]]["run_id"]
    assert by_origin[runs["base"]]["params"] == {"lr": 0.01, "opt.name": "adam"}
