"""HDF5 export: one self-describing .h5 per experiment for people without dii-hpc.

Layout: ``/runs/<run_id>`` groups with attributes (status, kind, times, ``params.*``,
``tags.*``; a field that is None has no attribute) and ``metrics/<key>`` datasets of a compound
dtype (step, value, time), which ``pandas.DataFrame(f[path][()])`` reads as-is.
``/runs_table`` holds one row per run (the ``runs list`` columns and ``error``; lists and
dicts as JSON text) in pandas' own format (PyTables, a core dependency):
``pandas.read_hdf(FILE, "runs_table")``.  Written to a temp file and renamed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


RUNS_TABLE = "runs_table"


def _attr(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    from dii_hpc.store.atomic import dumps

    return dumps(value, indent=None).decode()


def _set(attrs: Any, key: str, value: Any) -> None:
    """An attribute, or none for None: HDF5 attributes have no null, and "null" is a string."""
    if value is not None:
        attrs[key] = _attr(value)


def _write_runs_table(store: Store, experiment: str, records: list[dict[str, Any]], path: Path) -> None:
    """The runs table in pandas' HDF5 format (PyTables'); text columns hold only text."""
    import warnings

    from dii_hpc.store.atomic import dumps

    df = store.runs(experiment=experiment)
    errors = {r["run_id"]: r.get("error") for r in records}
    df["error"] = [errors.get(rid) for rid in df["run_id"]]
    for col in df.columns:
        if df[col].dtype == object:  # a column of mixed values (0.1 and "auto"): all as text
            df[col] = [v if v is None or isinstance(v, str) or (isinstance(v, float) and v != v)
                       else dumps(v, indent=None).decode() for v in df[col]]
    with warnings.catch_warnings():  # "train/loss" is no Python name: fine for a column
        warnings.simplefilter("ignore")
        df.to_hdf(path, key=RUNS_TABLE, mode="a", format="table")


def export_experiment(store: Store, experiment: str, out: str | os.PathLike[str]) -> dict[str, int]:
    import h5py
    import numpy as np

    from dii_hpc.store.metrics import metric_keys, read_history

    records = store.records(experiment)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    dtype = np.dtype([("step", "<i8"), ("value", "<f8"), ("time", "<f8")])
    n_series = 0
    try:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["experiment"] = experiment
            h5.attrs["format"] = "dii-hpc-export/1"
            runs = h5.create_group("runs")
            for rec in records:
                grp = runs.create_group(rec["run_id"])
                for key in ("run_id", "experiment", "kind", "status", "start_time", "end_time", "error"):
                    _set(grp.attrs, key, rec.get(key))
                for prefix in ("params", "tags"):
                    for k, v in (rec.get(prefix) or {}).items():
                        _set(grp.attrs, f"{prefix}.{k}", v)
                if rec.get("slurm"):
                    grp.attrs["slurm"] = _attr(rec["slurm"])
                rdir = store.run_path(experiment, rec["run_id"])
                for key in metric_keys(rdir):
                    data = read_history(rdir, key)
                    table = np.empty(data.shape[0], dtype=dtype)
                    table["step"], table["value"], table["time"] = data[:, 0], data[:, 1], data[:, 2]
                    grp.create_dataset(f"metrics/{key}", data=table)
                    n_series += 1
            h5.flush()
        _write_runs_table(store, experiment, records, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"runs": len(records), "series": n_series}
