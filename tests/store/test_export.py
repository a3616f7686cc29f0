"""HDF5 export (store/export.py): h5py groups always; a runs table pandas.read_hdf reads."""

from __future__ import annotations

from pathlib import Path

import h5py

import dii_hpc
from dii_hpc.store.export import RUNS_TABLE, export_experiment
from dii_hpc.store.store import Store


def _runs(store_path: Path) -> list[str]:
    ids = []
    for i, params in enumerate(({"lr": 0.1, "layers": [8, 4]}, {"lr": "auto", "opt": {"n": 1}})):
        with dii_hpc.start_run("exp", params=params) as run:
            run.log_metrics({"acc": 0.5 + i / 10, "train/loss": 1.0}, step=0)
            ids.append(run.id)
    rid = Store(store_path).create_run("exp", status="FAILED")
    Store(store_path).update_run(rid, error="ValueError: boom")
    return [*ids, rid]


def test_error_and_end_time_are_real_nulls(store_path: Path, tmp_path: Path) -> None:
    """#14 "smaller": `error` was stored as the string 'null'."""
    ids = _runs(store_path)
    export_experiment(Store(store_path), "exp", tmp_path / "e.h5")
    with h5py.File(tmp_path / "e.h5") as h5:
        ok, failed = h5["runs"][ids[0]].attrs, h5["runs"][ids[2]].attrs
        assert "error" not in ok and ok["status"] == "FINISHED"
        assert failed["error"] == "ValueError: boom" and "end_time" not in failed
        assert "null" not in [str(v) for v in ok.values()]


def test_pandas_read_hdf_reads_the_runs_table(store_path: Path, tmp_path: Path) -> None:
    """#14 "smaller": no runs table that `pandas.read_hdf` reads (PyTables, a core dependency)."""
    import pandas as pd

    ids = _runs(store_path)
    export_experiment(Store(store_path), "exp", tmp_path / "e.h5")
    table = pd.read_hdf(tmp_path / "e.h5", RUNS_TABLE).set_index("run_id")
    assert sorted(table.index) == sorted(ids)
    assert table.loc[ids[0], "metrics.acc"] == 0.5 and table.loc[ids[1], "params.lr"] == "auto"
    assert table.loc[ids[0], "params.layers"] == "[8, 4]"
    assert table.loc[ids[2], "error"] == "ValueError: boom" and pd.isna(table.loc[ids[0], "error"])
    with h5py.File(tmp_path / "e.h5") as h5:      # the h5py layout is still there beside it
        assert sorted(h5["runs"]) == sorted(ids)
