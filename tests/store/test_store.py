from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import dii_hpc
from dii_hpc.errors import NotFound, StoreError
from dii_hpc.store.store import Store


def _make_runs(n: int = 3) -> list[str]:
    ids = []
    for i in range(n):
        with dii_hpc.start_run("exp", params={"lr": 10.0**-i, "opt": "adam"}, tags={"i": i}) as run:
            for step in range(5):
                run.log_metrics({"loss": 1.0 / (step + 1 + i), "acc": step / 10}, step=step)
            ids.append(run.id)
    return ids


def test_runs_frame_has_the_documented_columns(store_path: Path) -> None:
    ids = _make_runs()
    df = Store().runs()
    assert list(df.columns[:7]) == ["run_id", "experiment", "kind", "status", "start_time",
                                    "end_time", "duration_s"]
    assert {"params.lr", "params.opt", "metrics.loss", "metrics.acc", "tags.i"} <= set(df.columns)
    assert sorted(df["run_id"]) == sorted(ids)
    assert set(df["status"]) == {"FINISHED"}
    row = df.set_index("run_id").loc[ids[1]]
    assert row["metrics.acc"] == pytest.approx(0.4) and row["params.lr"] == pytest.approx(0.1)
    assert (df["duration_s"] >= 0).all()
    assert str(df["start_time"].dtype).startswith("datetime64")


def test_metric_history_and_record(store_path: Path) -> None:
    ids = _make_runs(1)
    store = Store()
    hist = store.metric_history(ids[0], "loss")
    assert hist["step"].tolist() == [0, 1, 2, 3, 4]
    assert hist["value"].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert list(hist.columns) == ["step", "value", "time"]
    rec = store.run(ids[0])
    assert rec["metrics"]["loss"] == {"min": 0.2, "max": 1.0, "count": 5, "last": 0.2, "step": 4}
    assert store.experiments() == ["exp"]


def test_damaged_runs_are_reported_and_skipped(store_path: Path) -> None:
    ids = _make_runs(3)
    store = Store()
    (store.run_dir(ids[0]) / "run.json").write_text("{not json")
    df = store.runs()
    assert sorted(df["run_id"]) == sorted(ids[1:])
    assert [rid for rid, _ in store.damaged] == [ids[0]]


def test_compacted_listing_equals_plain_listing_and_sees_later_changes(store_path: Path) -> None:
    from dii_hpc.store.summary import compact

    ids = _make_runs(4)
    store = Store()
    before = store.runs("exp")
    res = compact(store, "exp")
    assert res["added"] == 4 and res["total"] == 4
    after = store.runs("exp")
    pd.testing.assert_frame_equal(before, after, check_dtype=False)
    assert compact(store, "exp")["added"] == 0  # incremental: nothing new
    store.update_run(ids[0], status="FAILED", slurm={"state": "FAILED"})
    changed = store.runs("exp").set_index("run_id")
    assert changed.loc[ids[0], "status"] == "FAILED"
    assert changed.loc[ids[0], "slurm.state"] == "FAILED"
    assert compact(store, "exp")["added"] == 1
    assert store.runs("exp").set_index("run_id").loc[ids[0], "status"] == "FAILED"
    assert not list((store.experiment_dir("exp") / ".changed").iterdir())


def test_summary_survives_mixed_param_types(store_path: Path) -> None:
    from dii_hpc.store.summary import compact

    for v in (1, "a", [1, 2]):
        with dii_hpc.start_run("mix", params={"p": v}) as run:
            run.log_metric("m", 1.0)
    store = Store()
    compact(store, "mix")
    assert sorted(map(str, store.runs("mix")["params.p"])) == sorted(["1", "a", "[1, 2]"])


def test_hdf5_export_round_trips_with_plain_h5py(store_path: Path, tmp_path: Path) -> None:
    ids = _make_runs(2)
    with dii_hpc.start_run("exp") as run:
        run.log_metric("weird", float("nan"), step=0)
        run.log_metric("weird", float("inf"), step=1)
    out = tmp_path / "exp.h5"
    from dii_hpc.store.export import export_experiment

    assert export_experiment(Store(), "exp", out) == {"runs": 3, "series": 5}
    with h5py.File(out, "r") as h5:
        grp = h5["runs"][ids[1]]
        assert grp.attrs["status"] == "FINISHED" and grp.attrs["params.lr"] == pytest.approx(0.1)
        df = pd.DataFrame(grp["metrics/loss"][()])
        assert df["step"].tolist() == [0, 1, 2, 3, 4]
        np.testing.assert_allclose(df["value"], Store().metric_history(ids[1], "loss")["value"])
        weird = h5["runs"][run.id]["metrics/weird"][()]
        assert np.isnan(weird["value"][0]) and np.isinf(weird["value"][1])


def test_artifacts_are_content_addressed_and_deduplicated(store_path: Path, tmp_path: Path) -> None:
    f = tmp_path / "model.pt"
    f.write_bytes(os.urandom(1000))
    shas = []
    for _ in range(3):
        with dii_hpc.start_run("exp") as run:
            shas.append(run.log_artifact(f))
            run.log_dict("result.json", {"a": 1})
    assert len(set(shas)) == 1
    store = Store()
    blobs = [p for p in (store.root / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2
    arts = store.artifacts(run.id)
    assert Path(arts["model.pt"]["path"]).read_bytes() == f.read_bytes()
    assert json.loads(Path(arts["result.json"]["path"]).read_text()) == {"a": 1}


def test_store_path_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        Store(f)


def test_unknown_names_suggest_close_ones(store_path: Path) -> None:
    ids = _make_runs(1)
    store = Store()
    with pytest.raises(NotFound, match="did you mean exp"):
        store.runs("exq")
    with pytest.raises(NotFound, match="did you mean"):
        store.run(ids[0][:-1] + ("0" if ids[0][-1] != "0" else "1"))
    assert store.run(ids[0][:10])["run_id"] == ids[0]  # unique prefix


def test_compacting_before_any_run_finished_then_again(store_path: Path) -> None:
    from dii_hpc.store.summary import compact

    store = Store()
    rid = store.create_run("early", status="RUNNING")
    assert compact(store, "early")["total"] == 0  # nothing finished yet: an empty summary
    assert store.runs("early")["run_id"].tolist() == [rid]
    store.update_run(rid, status="FINISHED")
    assert compact(store, "early")["added"] == 1
    assert store.runs("early")["status"].tolist() == ["FINISHED"]


def test_pandas_private_from_arrays_is_still_what_history_frame_calls() -> None:
    """history_frame falls back to the public constructor without a word (only slower):
    this is where a pandas release that renames or reshapes ``_from_arrays`` shows."""
    import inspect

    import pandas as pd

    assert hasattr(pd.DataFrame, "_from_arrays"), "pandas dropped DataFrame._from_arrays"
    params = inspect.signature(pd.DataFrame._from_arrays).parameters
    assert {"arrays", "columns", "index", "verify_integrity"} <= set(params), list(params)
    arrays = [np.arange(3, dtype="int64"), np.ones(3), np.zeros(3)]
    frame = pd.DataFrame._from_arrays(arrays, columns=pd.Index(["step", "value", "time"]),
                                      index=pd.RangeIndex(3), verify_integrity=False)
    assert list(frame.columns) == ["step", "value", "time"] and frame["step"].dtype == "int64"
    assert frame["value"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("n", [0, 1, 250])
def test_history_frame_equals_what_the_public_constructor_builds(n: int) -> None:
    import pandas as pd

    from dii_hpc.store.store import history_frame

    data = np.column_stack((np.arange(n, dtype="float64"), np.linspace(0, 1, n), np.full(n, 1.7e9)))
    got = history_frame(data)
    want = pd.DataFrame({"step": data[:, 0].astype("int64"), "value": data[:, 1], "time": data[:, 2]})
    pd.testing.assert_frame_equal(got, want)
    got.loc[0:0, "value"] = -1.0  # a user may edit the frame; the source array is not theirs
    if n:
        assert data[0, 1] == 0.0
