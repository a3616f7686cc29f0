"""`dii-hpc import mlflow`: runs of an MLflow store (mlruns folder, SQLite, server) into ours.

Read with MLflow's own client: experiments, runs (params, tags, status, times), every
metric's full history (step, value, timestamp) and the artifact files. Params come back
from MLflow as strings; those that read as numbers are stored as numbers again, so the site
can plot them. Nested runs keep their parent (``mlflow.parentRunId``).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.interop.ingest import Incoming, Ingest, Outcome, safe_experiment
from dii_hpc.interop.mlflow_client import client, paged, resolve_uri
from dii_hpc.mlflow._entities import FROM_MLFLOW_STATUS

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

PARENT_TAG = "mlflow.parentRunId"


def parse_param(text: str) -> Any:
    """'0.01' -> 0.01, '32' -> 32, 'True' -> True; anything else stays the string it was."""
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text) if str(int(text)) == text else text
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def import_mlflow(store: Store, source: str, experiment: str | None = None,
                  artifacts: bool = True) -> Outcome:
    """Import every active run of the MLflow store at ``source`` (a path or tracking URI)."""
    uri = resolve_uri(source)  # before importing MLflow: a wrong path fails fast
    target = safe_experiment(experiment) if experiment else None
    from mlflow.entities import ViewType

    ingest = Ingest(store)
    parents: dict[str, str] = {}
    with client(uri) as mc:
        for exp in paged(mc.search_experiments, view_type=ViewType.ACTIVE_ONLY):
            for run in paged(mc.search_runs, experiment_ids=[exp.experiment_id],
                             run_view_type=ViewType.ACTIVE_ONLY):
                sid = f"mlflow:{run.info.run_id}"
                if run.data.tags.get(PARENT_TAG):
                    parents[sid] = f"mlflow:{run.data.tags[PARENT_TAG]}"
                status = FROM_MLFLOW_STATUS.get(run.info.status, "FINISHED")
                end = _seconds(run.info.end_time)
                if ingest.unchanged(sid, status, end):
                    ingest.skip(sid)
                    continue
                _one(mc, ingest, run, target or safe_experiment(exp.name), uri, artifacts)
    ingest.link_parents(parents)
    return ingest.outcome


def _one(mc: Any, ingest: Ingest, run: Any, experiment: str, uri: str, artifacts: bool) -> None:
    info, data = run.info, run.data
    tags = dict(data.tags)
    if info.run_name and "mlflow.runName" not in tags:
        tags["mlflow.runName"] = info.run_name
    item = Incoming(
        source_id=f"mlflow:{info.run_id}", origin=uri, experiment=experiment,
        params={k: parse_param(v) for k, v in data.params.items()}, tags=tags,
        status=FROM_MLFLOW_STATUS.get(info.status, "FINISHED"), start_time=_seconds(info.start_time),
        end_time=_seconds(info.end_time),
        metrics={key: _history(mc, info.run_id, key) for key in data.metrics})
    if not artifacts:
        ingest.write(item)
        return
    with tempfile.TemporaryDirectory(prefix="dii-mlflow-") as tmp:
        item.artifacts = _download(mc, info.run_id, Path(tmp))
        ingest.write(item)


def _history(mc: Any, run_id: str, key: str) -> Any:
    import numpy as np

    points = mc.get_metric_history(run_id, key)
    rows = np.array([(m.step, m.value, m.timestamp / 1000.0) for m in points], dtype="float64")
    rows = rows.reshape(-1, 3)
    order = np.lexsort((rows[:, 2], rows[:, 0]))  # by step, then time: MLflow keeps both
    return rows[order]


def _download(mc: Any, run_id: str, tmp: Path) -> list[tuple[str, Path]]:
    files = []
    stack = [""]
    while stack:
        for entry in mc.list_artifacts(run_id, stack.pop() or None):
            if entry.is_dir:
                stack.append(entry.path)
            else:
                files.append(entry.path)
    out = []
    for rel in sorted(files):
        local = mc.download_artifacts(run_id, rel, str(tmp))
        out.append((rel, Path(local)))
    return out


def _seconds(millis: int | None) -> float | None:
    return None if millis is None else millis / 1000.0
