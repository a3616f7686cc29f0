"""Drift and performance of a deployment, through the drift package's monitors.

After a job, every row of every shard (the model's input columns + a prediction column) is
profiled into mergeable sketches, one shard at a time (`current_profile`: memory is one shard,
however many rows the job had), and checked against the monitor's reference sketch
(`drift.sketch`); the check is stored as a drift run in the monitor's history. A monitor with a
model compares embeddings, which need rows: its check reads the head sample of every shard
(``sample_ranges``) into DIR/monitor/batch.parquet for its embeddings, prediction drift and
performance estimate, while its data drift and data quality still come from the sketches of
every row (unless its options need rows: multivariate tests). `predict score --labels` reads
the same sample to pair predictions with labels (accuracy/F1 or MAE/RMSE, same trend).
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

MONITOR_ROWS = 200_000  # most rows a check that needs rows (labels, embeddings) reads back


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
           inference_run: str | None, score: bool | None = None,
           every_row: DriftSection | None = None) -> tuple[DriftSection, str]:
    from dii_hpc.drift.check import record_check
    from dii_hpc.drift.monitor import check_monitor

    pred_col = _prediction_column(store, monitor)
    path = batch_path(out)
    if not path.is_file():
        path = write_batch(out, manifest, pred_col)
    section = check_monitor(store, monitor, str(path), labels, {"prediction_column": pred_col})
    if every_row is not None:
        _data_part_from(section, every_row)
    section.inference_run, section.out = inference_run, str(out)
    if score is not None:
        section.score = score
    return section, record_check(section, store)


def _data_part_from(section: DriftSection, every_row: DriftSection) -> None:
    """The head sample's section with its data-drift part (features, data quality, batch
    rule, row counts) from the sketches of every row; embeddings, predictions and the
    performance estimate stay the sample's (they need rows); the verdict is taken again."""
    for name in ("features", "data_quality", "sketch", "rule", "share_drifted", "n_drifted",
                 "n_features", "n_reference", "n_current", "correction", "data_drift"):
        setattr(section, name, getattr(every_row, name))
    alarms = [bool(every_row.data_drift)] + [
        part.drift for part in (section.prediction, section.performance) if part is not None]
    section.drift = any(alarms)


def _summary(section: DriftSection, drift_run: str) -> dict[str, Any]:
    perf = section.performance
    return {"run": drift_run, "time": time.time(), "drift": bool(section.drift),
            "data_drift": bool(section.drift if section.data_drift is None else section.data_drift),
            "prediction_drift": bool(section.prediction is not None and section.prediction.drift),
            "share_drifted": section.share_drifted, "n_drifted": section.n_drifted,
            "performance": perf.current if perf else None,
            "performance_drift": perf.drift if perf else None}


def current_profile(out: Path, manifest: dict[str, Any], pred_col: str,
                    kinds: dict[str, Any], k: int) -> Any:
    """The sketch profile of every row of every shard: inputs and prediction, one shard at a
    time (``kinds``: the reference profile's column kinds)."""
    import zarr

    from dii_hpc.drift.sketch.profile import profile_arrays

    names = [k_ for k_, v in manifest["outputs"].items() if not v["shape"]]
    name = "prediction" if "prediction" in names else (names[0] if len(names) == 1 else None)
    if name is None:
        raise BadInput(f"{out}: no per-row 'prediction' output among "
                       f"{', '.join(manifest['outputs'])}")
    pred = zarr.open_array(str(out / name), mode="r")
    merged = None
    for a, b in manifest["shards"]:
        x = inputs.read_rows(manifest["data"], manifest["columns"], a, b)
        if x.ndim != 2:
            raise BadInput(f"{out}: inputs of shape {x.shape} are not a table; monitors of "
                           "predictions need tabular inputs")
        cols = manifest["columns"] or [f"x{i}" for i in range(x.shape[1])]
        arrays = {c: x[:, i] for i, c in enumerate(cols)} | {pred_col: np.asarray(pred[a:b])}
        part = profile_arrays(arrays, {c: kinds.get(c, "numeric") for c in arrays}, k)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    if merged is None:
        raise BadInput(f"{out}: the job has no rows")
    merged.sources = [str(out)]
    return merged


def _sketch_section(store: Store, monitor: str, out: Path,
                    manifest: dict[str, Any]) -> DriftSection | None:
    """The monitor's check of every row of the job, from sketches (None: its options need
    rows: multivariate tests or their batch rules)."""
    from dii_hpc.drift.monitor import options_of
    from dii_hpc.drift.sketch import check as sketched
    from dii_hpc.drift.sketch.compare import compare_profiles
    from dii_hpc.drift.sketch.profile import Kind, profile_arrays
    from dii_hpc.records import monitor as monitors

    prof = monitors.read(store, monitor)
    pred_col = _prediction_column(store, monitor)
    opt = options_of(store, prof, {"prediction_column": pred_col})
    if prof.model is not None and (opt.mmd or opt.classifier or opt.rule != "share"):
        return None
    ref = sketched.reference_of(store, prof, opt)
    extras = monitors.read_extras(store, monitor)
    if pred_col not in ref.columns and "predictions" in extras:
        kind: Kind = "categorical" if extras["predictions"].dtype.kind in "OUS" else "numeric"
        ref.columns[pred_col] = profile_arrays({pred_col: extras["predictions"]},
                                               {pred_col: kind}, opt.sketch_k).columns[pred_col]
    cur = current_profile(out, manifest, pred_col,
                          {c: col.kind for c, col in ref.columns.items()}, opt.sketch_k)
    if prof.model is None:
        section = sketched.section_of(ref, cur, opt, f"monitor {monitor}", str(out))
    else:  # the features alone: the sample's check judges the model's predictions
        section = compare_profiles(ref, cur, opt, f"monitor {monitor}", str(out))
        section.data_drift = section.drift
    section.monitor, section.reference, section.current = monitor, f"monitor:{monitor}", str(out)
    return section


def check_after_job(store: Store, monitor: str, out: Path, manifest: dict[str, Any],
                    inference_run: str) -> dict[str, Any]:
    """Drift of this job's inputs and predictions vs the monitor: the run's "last_drift".
    The data drift is from sketches of every row; a monitor with a model also reads the head
    sample of each shard for its embeddings, prediction drift and performance estimate."""
    from dii_hpc.drift.check import record_check
    from dii_hpc.records import monitor as monitors

    every_row = _sketch_section(store, monitor, out, manifest)
    if monitors.read(store, monitor).model is None and every_row is not None:
        every_row.inference_run, every_row.out = inference_run, str(out)
        return {**_summary(every_row, record_check(every_row, store)), "monitor": monitor}
    write_batch(out, manifest, _prediction_column(store, monitor))  # fresh: this job's rows
    section, drift_run = _check(store, monitor, out, manifest, None, inference_run,
                                every_row=every_row)
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
