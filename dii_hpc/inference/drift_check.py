"""Drift and performance of a deployment, through the drift package's monitors.

After a job, the inputs and the predictions go into one table (DIR/monitor/batch.parquet: the
model's input columns + a prediction column) and are checked against the monitor's reference;
the check is stored as a drift run in the monitor's history. `predict score --labels` checks that
batch again with the labels, which adds accuracy/F1 or MAE/RMSE to the same trend.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.errors import BadInput
from dii_hpc.inference import inputs, output

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.records.drift import DriftSection
    from dii_hpc.store.store import Store

MONITOR_ROWS = 200_000  # most rows a drift check reads back from a job


def sample_ranges(manifest: dict[str, Any], cap: int = MONITOR_ROWS) -> list[tuple[int, int]]:
    """Rows the monitor sees: all of them, or the head of every shard up to ``cap`` in all
    (a drift test needs thousands of rows, not a billion; every shard is represented)."""
    if manifest["rows"] <= cap:
        return [(0, manifest["rows"])]
    per = max(1, cap // len(manifest["shards"]))
    return [(a, min(b, a + per)) for a, b in manifest["shards"]]


def batch_path(out: Path) -> Path:
    return out / "monitor" / "batch.parquet"


def _prediction_column(store: Store, monitor: str) -> str:
    """The monitor's prediction column (its options, validated as every check's are)."""
    from dii_hpc.drift.monitor import options_of
    from dii_hpc.records import monitor as monitors

    return options_of(store, monitors.read(store, monitor)).prediction_column or "prediction"


def predictions(out: Path, manifest: dict[str, Any]) -> np.ndarray:
    """The per-row prediction (the "prediction" output, else the only 1-D output)."""
    names = [k for k, v in manifest["outputs"].items() if not v["shape"]]
    name = "prediction" if "prediction" in names else (names[0] if len(names) == 1 else None)
    if name is None:
        raise BadInput(f"{out}: no per-row 'prediction' output among "
                       f"{', '.join(manifest['outputs'])}")
    return output.read_outputs(out, [name])[name]


def write_batch(out: Path, manifest: dict[str, Any], pred_col: str) -> Path:
    """Inputs + predictions as one parquet table (what the monitor compares)."""
    import pandas as pd

    from dii_hpc.store.atomic import write_bytes

    ranges = sample_ranges(manifest)
    x = np.concatenate([inputs.read_rows(manifest["data"], manifest["columns"], a, b)
                        for a, b in ranges])
    if x.ndim != 2:
        raise BadInput(f"{out}: inputs of shape {x.shape} are not a table; monitors of "
                       "predictions need tabular inputs")
    cols = manifest["columns"] or [f"x{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=cols)
    pred = predictions(out, manifest)
    frame[pred_col] = np.concatenate([pred[a:b] for a, b in ranges])
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    path = batch_path(out)
    write_bytes(path, buf.getvalue())
    return path


def _check(store: Store, monitor: str, out: Path, manifest: dict[str, Any], labels: str | None,
           inference_run: str | None, score: bool | None = None) -> tuple[DriftSection, str]:
    from dii_hpc.drift.check import record_check
    from dii_hpc.drift.monitor import check_monitor

    pred_col = _prediction_column(store, monitor)
    path = batch_path(out)
    if not path.is_file():
        path = write_batch(out, manifest, pred_col)
    section = check_monitor(store, monitor, str(path), labels, {"prediction_column": pred_col})
    section.inference_run, section.out = inference_run, str(out)
    if score is not None:
        section.score = score
    return section, record_check(section, store)


def _summary(section: DriftSection, drift_run: str) -> dict[str, Any]:
    perf = section.performance
    return {"run": drift_run, "time": time.time(), "drift": bool(section.drift),
            "data_drift": bool(section.drift if section.data_drift is None else section.data_drift),
            "prediction_drift": bool(section.prediction is not None and section.prediction.drift),
            "share_drifted": section.share_drifted, "n_drifted": section.n_drifted,
            "performance": perf.current if perf else None,
            "performance_drift": perf.drift if perf else None}


def check_after_job(store: Store, monitor: str, out: Path, manifest: dict[str, Any],
                    inference_run: str) -> dict[str, Any]:
    """Drift of this job's inputs and predictions vs the monitor: the run's "last_drift"."""
    pred_col = _prediction_column(store, monitor)
    write_batch(out, manifest, pred_col)  # fresh: this job's rows and predictions
    section, drift_run = _check(store, monitor, out, manifest, None, inference_run)
    return {**_summary(section, drift_run), "monitor": monitor}


def _sampled_labels(out: Path, manifest: dict[str, Any], y: np.ndarray) -> str:
    """The labels of the rows the monitor sees (see ``sample_ranges``), as a file to check."""
    import pandas as pd

    from dii_hpc.store.atomic import write_bytes

    sample = np.concatenate([y[a:b] for a, b in sample_ranges(manifest)])
    buf = io.BytesIO()
    pd.DataFrame({"label": sample}).to_parquet(buf, index=False)
    path = out / "monitor" / "labels.parquet"
    write_bytes(path, buf.getvalue())
    return str(path)


def score(store: Store, out_dir: str, labels: str, monitor: str | None = None) -> dict[str, Any]:
    """Performance of stored predictions against labels; into the monitor's trend when there is one."""
    from dii_hpc.drift import performance as perf
    from dii_hpc.drift.io import read_labels

    out = Path(out_dir).expanduser().resolve()
    manifest = output.read_manifest(out)
    pred = predictions(out, manifest)
    y = read_labels(labels)
    if len(y) != len(pred):
        raise BadInput(f"--labels {labels}: {len(y)} labels for {len(pred)} predictions in {out}")
    task = perf.task_of(y)
    result: dict[str, Any] = {"task": task, "metrics": perf.metrics(task, y, pred),
                              "labels": labels, "out": str(out), "rows": len(y)}
    runs = manifest.get("runs") or []
    monitor = monitor or manifest.get("monitor")
    if monitor:
        section, drift_run = _check(store, monitor, out, manifest, _sampled_labels(out, manifest, y),
                                    runs[-1] if runs else None, score=True)
        result["last_drift"] = {**_summary(section, drift_run), "monitor": monitor}
        result["performance"] = (section.performance.model_dump(exclude_unset=True)
                                 if section.performance else None)
    if runs:
        update: dict[str, Any] = {"performance": result["metrics"], "labels": labels}
        if "last_drift" in result:
            update["last_drift"] = result["last_drift"]
        store.update_run(runs[-1], inference=update)
    return result
