"""Monitors: a named reference profile in the store, checked again and again (e.g. nightly).

The profile's files (`dii_hpc.records.monitor`: ``<store>/monitors/<name>/profile.json``,
``reference.parquet``, ``extras.npz``) are written and read through that record. Each check
becomes a run of kind "drift" in the experiment named after the monitor (`drift.check`), which
is what gives a monitor its history (`dii-hpc runs list`, the report's trend).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.drift import compare, quality
from dii_hpc.drift import embedding as mdl
from dii_hpc.drift import performance as perf
from dii_hpc.drift.estimate import assess
from dii_hpc.drift.io import (
    check_frame,
    is_numeric,
    main_array,
    read_labels,
    read_table,
    resolve_path,
)
from dii_hpc.drift.options import DriftOptions
from dii_hpc.errors import BadInput
from dii_hpc.records import monitor as monitors
from dii_hpc.records.drift import DriftSection, Performance
from dii_hpc.records.monitor import MonitorProfile

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def _is_table(path: Path) -> bool:
    """Tables are csv/parquet, or an npz of 1-D/2-D arrays; anything with more dims is model input."""
    if path.suffix.lower() in TABLE_SUFFIXES:
        return True
    return main_array(path).ndim <= 2 if path.suffix.lower() in (".npz", ".npy") else True


def feature_columns(frame: Any, opt: DriftOptions) -> Any:
    drop = [c for c in opt.not_features if c in frame.columns]
    return frame.drop(columns=drop)


def _model_input(frame: Any) -> np.ndarray:
    """Numeric feature columns as the float32 matrix a tabular model takes."""
    num = [c for c in frame.columns if is_numeric(frame[c])]
    return frame[num].to_numpy(np.float32)


def predictions_of(frame: Any | None, x: np.ndarray, model: Any, opt: DriftOptions,
                 where: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(embeddings, predictions) from the model, else predictions from prediction_column."""
    if model is not None:
        return mdl.embed_and_predict(model, x)
    if opt.prediction_column and frame is not None:
        if opt.prediction_column not in frame.columns:
            raise BadInput(f"{where}: no prediction column {opt.prediction_column!r}")
        return None, frame[opt.prediction_column].to_numpy()
    return None, None


def profile(store: Store, name: str, data: str, opt: DriftOptions, model_spec: str | None = None,
            labels: str | None = None) -> MonitorProfile:
    """Save a reference profile for monitor `name`; returns the profile record (with the
    ``sketch`` option: the merged sketch of every file `data` matches)."""
    from dii_hpc.registry import uri

    if opt.sketch:
        from dii_hpc.drift.sketch import check as sketched

        return sketched.profile_monitor(store, name, data, opt, model_spec, labels)

    monitors.folder(store, name)  # a bad name is refused before any work
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
    x = _model_input(feature_columns(frame, opt)) if frame is not None else main_array(path)
    emb, pred = predictions_of(frame, x, model, opt, str(path))
    record = MonitorProfile(
        name=name, created=time.time(), kind="table" if table else "array", source=str(path),
        n_rows=int(len(x)), options=opt.to_dict(), model=model_spec,
        columns=list(frame.columns) if frame is not None else None)
    extras = {k: v for k, v in (("embeddings", emb), ("predictions", pred)) if v is not None}
    y = read_labels(labels) if labels else _target(frame, opt, str(path))
    if y is not None:
        if pred is None:
            raise BadInput("labels need predictions: give --model or a prediction_column")
        record.task = perf.task_of(y)
        record.reference_performance = perf.metrics(record.task, y, pred)
        extras["labels"] = y
        found = class_scores(frame, x, model, opt, str(path), classes=np.union1d(y, pred)) \
            if record.task == "classification" else None  # a regressor's forward would be wasted
        extras.update(assess.prepare(record, found, y, opt))
    elif pred is not None:
        record.task = perf.task_of(pred)
    monitors.write(store, record, frame, extras)
    return record


def class_scores(frame: Any | None, x: np.ndarray, model: Any, opt: DriftOptions, where: str,
                 classes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(class scores, their classes) of the rows: from ``score_columns`` when named (the
    scores a model gave when it ran, as NannyML's CBPE takes them: no model needed), else the
    model's (None without either, or for a model without class scores). ``classes``: the
    sorted classes the columns stand for."""
    if not opt.score_columns:
        return mdl.scores(model, x) if model is not None else None
    missing = [c for c in opt.score_columns if frame is None or c not in frame.columns]
    if frame is None or missing:
        raise BadInput(f"{where}: no score column {(missing or opt.score_columns)[0]!r}")
    k = len(opt.score_columns)
    if (k == 1 and len(classes) != 2) or (k > 1 and len(classes) != k):
        raise BadInput(f"{where}: {k} score column(s) for {len(classes)} classes "
                       f"({', '.join(map(str, classes[:10]))}): give one per class, in sorted "
                       "order, or one (the larger class's) for two classes")
    scores = frame[opt.score_columns].to_numpy(np.float64)
    if not np.isfinite(scores).all():
        raise BadInput(f"{where}: score columns {', '.join(opt.score_columns)} hold missing or "
                       "infinite values")
    if k == 1:
        scores = np.column_stack([1.0 - scores[:, 0], scores[:, 0]])
    return scores, classes


def _target(frame: Any | None, opt: DriftOptions, where: str) -> np.ndarray | None:
    """The reference's labels from its ``target_column`` (``--target``), if one is named."""
    if not opt.target_column:
        return None
    if frame is None or opt.target_column not in frame.columns:
        raise BadInput(f"{where}: no target column {opt.target_column!r}")
    y = frame[opt.target_column]
    if y.isna().any():
        raise BadInput(f"{where}: target column {opt.target_column!r} has missing labels")
    return np.asarray(y.to_numpy())


def options_of(store: Store, prof: MonitorProfile,
               overrides: dict[str, Any] | None = None) -> DriftOptions:
    """The options a check of the monitor uses: its saved ones (validated by the options
    model, as a config file is), with the check's ``overrides`` on top."""
    where = str(monitors.folder(store, prof.name) / monitors.PROFILE)
    saved = DriftOptions.from_mapping(prof.options, where, prefix=("options",))
    return DriftOptions.from_mapping({**saved.model_dump(exclude_unset=True), **(overrides or {})},
                                     f"monitor {prof.name}")


def history(store: Store, name: str) -> list[dict[str, Any]]:
    """The monitor's past checks, oldest first: start time, run id, verdict, share drifted."""
    monitors.read(store, name)
    if name not in store.experiments():
        return []
    runs = store.runs(experiment=name, kind="drift")
    return [{"start_time": r["start_time"], "run_id": r["run_id"],
             "drift": r.get("metrics.drift") == 1.0, "share_drifted": r.get("metrics.share_drifted")}
            for _, r in runs.sort_values("start_time").iterrows()] if len(runs) else []


def check_monitor(store: Store, name: str, data: str, labels: str | None = None,
                  overrides: dict[str, Any] | None = None,
                  executor: str = "local") -> DriftSection:
    """Compare the newest batch matching `data` with monitor `name`'s reference: the drift
    section (from sketches of every matching file with the ``sketch`` option or on Slurm)."""
    prof = monitors.read(store, name)
    opt = options_of(store, prof, overrides)
    if opt.sketch or executor != "local":
        from dii_hpc.drift.sketch import check as sketched

        return sketched.check_monitor(store, prof, opt, data, labels, executor)
    model = mdl.load_model(prof.model, store=store) if prof.model else None
    extras = monitors.read_extras(store, name)
    path = resolve_path(data)
    if prof.kind == "table":
        ref = monitors.read_reference(store, name)
        cur = read_table(path)
        section = quality.compare(feature_columns(ref, opt), feature_columns(cur, opt), opt,
                                  f"monitor {name}", str(path))
        x = _model_input(feature_columns(cur, opt)) if model is not None else np.empty((0,))
    else:
        ref, cur, x = None, None, main_array(path)
        section = compare.verdict({}, opt, prof.n_rows, len(x))
        section.rule = f"mmd(embeddings) p<{opt.significance:g}"
    emb, pred = predictions_of(cur, x, model, opt, str(path))
    y = read_labels(labels) if labels else None
    _add_model_parts(section, prof, extras, emb, pred, y, opt)
    found = class_scores(cur, x, model, opt, str(path), extras["classes"]) \
        if prof.estimator == "cbpe" and "classes" in extras else None
    section.keep_arrays(assess.ARTIFACT, assess.add_to_check(
        section, prof, extras, None if ref is None else feature_columns(ref, opt),
        None if cur is None else feature_columns(cur, opt), pred,
        None if found is None else found[0], y, opt))
    section.drift = bool(section.drift) or bool(section.performance and section.performance.drift)
    section.monitor, section.reference, section.current = name, f"monitor:{name}", str(path)
    return section


def _add_model_parts(section: DriftSection, prof: MonitorProfile, extras: dict[str, np.ndarray],
                     emb: np.ndarray | None, pred: np.ndarray | None, y: np.ndarray | None,
                     opt: DriftOptions) -> None:
    """Embedding MMD, prediction drift and performance drift; then the overall verdict."""
    data_drift = bool(section.drift)
    if emb is not None and "embeddings" in extras:
        part = compare.judged(compare.stats.mmd_test(extras["embeddings"], emb,
                                                     opt.mmd_permutations, opt.mmd_subsample,
                                                     opt.seed), opt)
        section.multivariate = {**section.multivariate, "embedding_mmd": part}
        if prof.kind != "table":
            data_drift = part.drift
    alarms = [data_drift]
    if pred is not None and "predictions" in extras:
        section.prediction = perf.prediction_drift(extras["predictions"], pred,
                                                   prof.task or perf.task_of(pred), opt)
        alarms.append(section.prediction.drift)
    if y is not None:
        if pred is None:
            raise BadInput("--labels needs predictions: the monitor has no model or prediction_column")
        task = prof.task or perf.task_of(y)
        current = perf.metrics(task, y, pred)
        if prof.reference_performance:
            section.performance = perf.performance_drift(prof.reference_performance, current,
                                                         task, opt)
            alarms.append(section.performance.drift)
        else:
            section.performance = Performance(task=task, reference=None, current=current,
                                              degraded=[], drift=False)
    section.data_drift = data_drift
    section.drift = any(alarms)
