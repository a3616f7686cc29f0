"""HDF5 export: one self-describing .h5 per experiment for people without dii-hpc.

Layout: ``/runs/<run_id>`` groups with attributes (status, kind, times, ``params.*``,
``tags.*``) and ``metrics/<key>`` datasets of a compound dtype (step, value, time), which
``pandas.DataFrame(f[path][()])`` reads as-is. Written to a temp file and renamed.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def _attr(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=str)


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
                    grp.attrs[key] = _attr(rec.get(key))
                for prefix in ("params", "tags"):
                    for k, v in (rec.get(prefix) or {}).items():
                        grp.attrs[f"{prefix}.{k}"] = _attr(v)
                if rec.get("slurm"):
                    grp.attrs["slurm"] = _attr(rec["slurm"])
                rdir = store.experiment_dir(experiment) / "runs" / rec["run_id"]
                for key in metric_keys(rdir):
                    data = read_history(rdir, key)
                    table = np.empty(data.shape[0], dtype=dtype)
                    table["step"], table["value"], table["time"] = data[:, 0], data[:, 1], data[:, 2]
                    grp.create_dataset(f"metrics/{key}", data=table)
                    n_series += 1
            h5.flush()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"runs": len(records), "series": n_series}
