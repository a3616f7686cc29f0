"""Monitors: a named reference profile in the store, checked again and again (e.g. nightly).

Layout (this folder belongs to the drift package):
    <store>/monitors/<name>/profile.json       options, columns, model spec, reference performance
    <store>/monitors/<name>/reference.parquet  the reference table (tables)
    <store>/monitors/<name>/extras.npz         reference predictions / labels / model embeddings
Every file is written atomically, so a check running on another node never sees half a profile.
Each check becomes a run of kind "drift" in the experiment named after the monitor, which is
what gives a monitor its history (`dii-hpc runs list`, the report's trend).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.drift import compare
from dii_hpc.drift import embedding as mdl
from dii_hpc.drift import performance as perf
from dii_hpc.drift.io import (
    check_frame,
    is_numeric,
    main_array,
    read_labels,
    read_table,
    resolve_path,
)
from dii_hpc.drift.options import DriftOptions
from dii_hpc.errors import BadInput, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store, StoreLike

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def monitor_dir(store: Store, name: str) -> Path:
    from dii_hpc.store.names import check_experiment

    return Path(store.root) / "monitors" / check_experiment(name)


def list_monitors(store: Store) -> list[str]:
    root = Path(store.root) / "monitors"
    return sorted(p.parent.name for p in root.glob("*/profile.json")) if root.is_dir() else []


def _is_table(path: Path) -> bool:
    """Tables are csv/parquet, or an npz of 1-D/2-D arrays; anything with more dims is model input."""
    if path.suffix.lower() in TABLE_SUFFIXES:
        return True
    return main_array(path).ndim <= 2 if path.suffix.lower() in (".npz", ".npy") else True


def _features(frame: Any, opt: DriftOptions) -> Any:
    drop = [c for c in [opt.prediction_column, *opt.ignore] if c and c in frame.columns]
    return frame.drop(columns=drop)


def _model_input(frame: Any) -> np.ndarray:
    """Numeric feature columns as the float32 matrix a tabular model takes."""
    num = [c for c in frame.columns if is_numeric(frame[c])]
    return frame[num].to_numpy(np.float32)


def _predictions(frame: Any | None, x: np.ndarray, model: Any, opt: DriftOptions,
                 where: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(embeddings, predictions) from the model, else predictions from prediction_column."""
    if model is not None:
        return mdl.embed_and_predict(model, x)
    if opt.prediction_column and frame is not None:
        if opt.prediction_column not in frame.columns:
            raise BadInput(f"{where}: no prediction column {opt.prediction_column!r}")
        return None, frame[opt.prediction_column].to_numpy()
    return None, None


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def profile(store: Store, name: str, data: str, opt: DriftOptions, model_spec: str | None = None,
            labels: str | None = None) -> dict[str, Any]:
    """Save a reference profile for monitor `name`; returns the profile record."""
    from dii_hpc.registry import uri
    from dii_hpc.store.atomic import dumps, write_bytes

    folder = monitor_dir(store, name)
    path = resolve_path(data)
    if uri.is_uri(model_spec):  # the reference embeddings belong to one version: pin it
        model_spec = uri.pin(str(model_spec), "--model", store)
    model = mdl.load_model(model_spec, store=store) if model_spec else None
    table = _is_table(path)
    if not table and model is None:
        raise BadInput(f"{path}: arrays with more than 2 dimensions need --model")
    frame = read_table(path) if table else None
    if frame is not None:
        check_frame(frame, str(path), opt.categorical)
    x = _model_input(_features(frame, opt)) if frame is not None else main_array(path)
    emb, pred = _predictions(frame, x, model, opt, str(path))
    extras: dict[str, np.ndarray] = {}
    record: dict[str, Any] = {
        "name": name, "created": time.time(), "kind": "table" if table else "array",
        "source": str(path), "n_rows": int(len(x)), "options": opt.to_dict(), "model": model_spec,
        "columns": list(frame.columns) if frame is not None else None,
        "task": None, "reference_performance": None}
    if emb is not None:
        extras["embeddings"] = emb
    if pred is not None:
        extras["predictions"] = pred
    if labels:
        y = read_labels(labels)
        if pred is None:
            raise BadInput("--labels needs predictions: give --model or a prediction_column")
        record["task"] = perf.task_of(y)
        record["reference_performance"] = perf.metrics(record["task"], y, pred)
        extras["labels"] = y
    elif pred is not None:
        record["task"] = perf.task_of(pred)
    if frame is not None:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        write_bytes(folder / "reference.parquet", buf.getvalue())
    if extras:
        write_bytes(folder / "extras.npz", _npz_bytes(extras))
    write_bytes(folder / "profile.json", dumps(record))
    return record


def load_profile(store: Store, name: str) -> dict[str, Any]:
    from dii_hpc.store.atomic import read_json

    path = monitor_dir(store, name) / "profile.json"
    if not path.is_file():
        raise NotFound("monitor", name, list_monitors(store))
    return read_json(path)


def history(store: Store, name: str) -> list[dict[str, Any]]:
    """The monitor's past checks, oldest first: start time, run id, verdict, share drifted."""
    load_profile(store, name)
    if name not in store.experiments():
        return []
    runs = store.runs(experiment=name, kind="drift")
    return [{"start_time": r["start_time"], "run_id": r["run_id"],
             "drift": r.get("metrics.drift") == 1.0, "share_drifted": r.get("metrics.share_drifted")}
            for _, r in runs.sort_values("start_time").iterrows()] if len(runs) else []


def _extras(store: Store, name: str) -> dict[str, np.ndarray]:
    path = monitor_dir(store, name) / "extras.npz"
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def check_monitor(store: Store, name: str, data: str, labels: str | None = None,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compare the newest batch matching `data` with monitor `name`'s reference: the drift section."""
    import pandas as pd

    prof = load_profile(store, name)
    opt = DriftOptions.from_mapping({**prof["options"], **(overrides or {})}, f"monitor {name}")
    model = mdl.load_model(prof["model"], store=store) if prof.get("model") else None
    extras = _extras(store, name)
    path = resolve_path(data)
    if prof["kind"] == "table":
        ref = pd.read_parquet(monitor_dir(store, name) / "reference.parquet")
        cur = read_table(path)
        section = compare.compare_frames(_features(ref, opt), _features(cur, opt), opt,
                                         f"monitor {name}", str(path))
        x = _model_input(_features(cur, opt)) if model is not None else np.empty((0,))
    else:
        cur, x = None, main_array(path)
        section = compare.verdict({}, opt, prof["n_rows"], len(x))
        section["rule"] = f"mmd(embeddings) p<{opt.alpha:g}"
    emb, pred = _predictions(cur, x, model, opt, str(path))
    _add_model_parts(section, prof, extras, emb, pred, labels, opt)
    section.update(monitor=name, reference=f"monitor:{name}", current=str(path))
    return section


def _add_model_parts(section: dict[str, Any], prof: dict[str, Any], extras: dict[str, np.ndarray],
                     emb: np.ndarray | None, pred: np.ndarray | None, labels: str | None,
                     opt: DriftOptions) -> None:
    """Embedding MMD, prediction drift and performance drift; then the overall verdict."""
    data_drift = bool(section["drift"])
    if emb is not None and "embeddings" in extras:
        res = compare.stats.mmd_test(extras["embeddings"], emb, opt.mmd_permutations,
                                     opt.mmd_subsample, opt.seed)
        part = {**res, "threshold": opt.alpha, "drift": bool(res["p_value"] < opt.alpha)}
        section.setdefault("multivariate", {})["embedding_mmd"] = part
        if prof["kind"] != "table":
            data_drift = part["drift"]
    alarms = [data_drift]
    if pred is not None and "predictions" in extras:
        section["prediction"] = perf.prediction_drift(extras["predictions"], pred,
                                                      prof.get("task") or perf.task_of(pred), opt)
        alarms.append(section["prediction"]["drift"])
    if labels:
        if pred is None:
            raise BadInput("--labels needs predictions: the monitor has no model or prediction_column")
        y = read_labels(labels)
        task = prof.get("task") or perf.task_of(y)
        current = perf.metrics(task, y, pred)
        reference = prof.get("reference_performance")
        if reference:
            section["performance"] = perf.performance_drift(reference, current, task, opt)
            alarms.append(section["performance"]["drift"])
        else:
            section["performance"] = {"task": task, "reference": None, "current": current,
                                      "degraded": [], "drift": False}
    section["data_drift"] = data_drift
    section["drift"] = any(alarms)


def check_files(reference: str, current: str, opt: DriftOptions) -> dict[str, Any]:
    """A one-off comparison of two files (no monitor): the drift section."""
    ref_path, cur_path = resolve_path(reference), resolve_path(current)
    ref, cur = read_table(ref_path), read_table(cur_path)
    section = compare.compare_frames(_features(ref, opt), _features(cur, opt), opt,
                                     str(ref_path), str(cur_path))
    section["data_drift"] = section["drift"]
    if opt.prediction_column:
        _, rp = _predictions(ref, np.empty(0), None, opt, str(ref_path))
        _, cp = _predictions(cur, np.empty(0), None, opt, str(cur_path))
        section["prediction"] = perf.prediction_drift(rp, cp, perf.task_of(rp), opt)
        section["drift"] = section["drift"] or section["prediction"]["drift"]
    section.update(reference=str(ref_path), current=str(cur_path))
    return section


def record_check(section: dict[str, Any], store: StoreLike = None) -> str:
    """Store the check as a run of kind 'drift' (experiment = monitor name, or 'drift')."""
    from dii_hpc.tracking.run import start_run

    name = section.get("monitor")
    tags = {"monitor": name or "", "verdict": "drift" if section["drift"] else "ok"}
    params = {"reference": section.get("reference"), "current": section.get("current"),
              "rule": section["rule"], "alpha": section["alpha"]}
    with start_run(name or "drift", params=params, tags=tags, kind="drift",
                           store=store) as run:
        run.set_section("drift", section)
        values = {"share_drifted": section["share_drifted"], "n_drifted": section["n_drifted"],
                  "drift": float(section["drift"])}
        for key, part in (section.get("multivariate") or {}).items():
            values[f"{key}_p_value"] = part["p_value"]
        if section.get("performance"):
            values.update(section["performance"]["current"])
        run.log_metrics(values, step=0)
        return run.id
