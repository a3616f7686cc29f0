"""`dii-hpc export EXP --to mlflow URI`: runs of an experiment into any MLflow tracking URI.

For teams that also run an MLflow server (or keep a ``sqlite:///mlflow.db``): each run
becomes an MLflow run with its params, tags, every metric point (step, value, time),
status, start and end times and artifact files, written with MLflow's own client. An
exported run carries the tag ``dii_hpc.run_id``; a second export finds it and sends only
what is new (points past each key's last step, new params and tags, the end state).  Whether
anything is new is decided by content, not by time: the tag ``dii_hpc.state`` holds a digest
of what the copy was made from (`state`), since a run can change and keep its end time (a
re-import adds points to an ended run; a resumed run may end within the same millisecond).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.interop.mlflow_client import client, paged, resolve_uri
from dii_hpc.mlflow._entities import TO_MLFLOW_STATUS, millis
from dii_hpc.store.records import flatten

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

RUN_TAG = "dii_hpc.run_id"
STATE_TAG = "dii_hpc.state"  # the digest (`state`) of the run the MLflow copy was made from
BATCH = 1000  # MLflow's log_batch takes at most 1000 metrics (100 params, 100 tags) a call
PARAM_MAX, TAG_MAX = 6000, 8000  # value lengths MLflow accepts


@dataclass
class Exported:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    points: int = 0
    artifacts: int = 0

    def summary(self, experiment: str, uri: str) -> str:
        return (f"{experiment} -> {uri}: {self.created} runs exported, {self.updated} updated, "
                f"{self.skipped} already there; {self.points} metric points, "
                f"{self.artifacts} artifacts")


def _target(uri: str) -> str:
    resolved = resolve_uri(uri, must_exist=False)
    if resolved.startswith("file:"):
        path = Path(resolved[len("file://"):])
        if path.is_dir() and any(path.iterdir()):
            from dii_hpc.interop.mlflow_client import check_mlruns

            check_mlruns(path)  # never write MLflow folders into some other non-empty folder
    return resolved


def _artifact_root(uri: str, experiment: str) -> str | None:
    """Beside a SQLite file, not MLflow's default ``./mlruns`` of whatever folder we run in."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///"):]).absolute()
    return (db.parent / f"{db.stem}-artifacts" / experiment).as_uri()


def export_mlflow(store: Store, experiment: str, uri: str, artifacts: bool = True) -> Exported:
    store.check_experiment_exists(experiment)
    target = _target(uri)  # before importing MLflow: a wrong target fails fast
    from mlflow.entities import ViewType

    out = Exported()
    with client(target) as mc:
        exp = mc.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else mc.create_experiment(
            experiment, artifact_location=_artifact_root(target, experiment))
        there = {r.data.tags[RUN_TAG]: r for r in paged(mc.search_runs, experiment_ids=[exp_id],
                                                        run_view_type=ViewType.ACTIVE_ONLY)
                 if RUN_TAG in r.data.tags}
        ids: dict[str, str] = {rid: r.info.run_id for rid, r in there.items()}
        records = sorted(store.records(experiment), key=lambda r: r.get("start_time") or 0)
        for record in records:
            _one(mc, store, exp_id, record, there.get(record["run_id"]), ids, artifacts, out)
    return out


def _one(mc: Any, store: Store, exp_id: str, record: dict[str, Any], old: Any,
         ids: dict[str, str], artifacts: bool, out: Exported) -> None:
    rid = record["run_id"]
    status = TO_MLFLOW_STATUS.get(record.get("status") or "", "FINISHED")
    digest = state(record, store.artifacts(rid))
    if old is not None and old.data.tags.get(STATE_TAG) == digest:
        out.skipped += 1
        return
    row = flatten(record)
    params = {k[7:]: str(v)[:PARAM_MAX] for k, v in row.items()
              if k.startswith("params.") and v is not None}
    tags = {k[5:]: str(v)[:TAG_MAX] for k, v in row.items() if k.startswith("tags.")}
    tags[RUN_TAG] = rid
    tags[STATE_TAG] = digest
    name = tags.get("mlflow.runName") or tags.get("name") or rid
    parent = ids.get(record.get("parent_run") or "")
    if parent:
        tags["mlflow.parentRunId"] = parent
    if old is None:
        run = mc.create_run(exp_id, start_time=millis(record.get("start_time")), run_name=name)
        mlflow_id = run.info.run_id
        ids[rid] = mlflow_id
        out.created += 1
    else:
        mlflow_id = old.info.run_id
        params = {k: v for k, v in params.items() if k not in old.data.params}
        out.updated += 1
    out.points += _log(mc, mlflow_id, store, rid, params, tags, old)
    if artifacts:
        out.artifacts += _artifacts(mc, mlflow_id, store, rid, old)
    mc.set_terminated(mlflow_id, status, end_time=millis(record.get("end_time")))


def state(record: dict[str, Any], artifacts: dict[str, dict[str, Any]]) -> str:
    """A digest of everything an export sends of a run: status, times, params, tags, parent,
    each metric key's summary (its count and last step change with every point) and the
    artifacts' hashes."""
    import hashlib

    from dii_hpc.store.atomic import dumps

    sent = {k: record.get(k) for k in ("status", "start_time", "end_time", "params", "tags",
                                        "parent_run", "metrics")}
    sent["artifacts"] = {name: meta.get("sha256") for name, meta in artifacts.items()}
    return hashlib.sha256(dumps(sent, indent=None, sort_keys=True)).hexdigest()[:32]


def _log(mc: Any, mlflow_id: str, store: Store, rid: str, params: dict[str, str],
         tags: dict[str, str], old: Any) -> int:
    from mlflow.entities import Metric, Param, RunTag

    metrics = []
    for key in store.metric_keys(rid):
        last = _last_step(mc, mlflow_id, key) if old is not None else None
        for step, value, when in store.metric_array(rid, key).tolist():
            if last is None or step > last:
                metrics.append(Metric(key, value, int(round(when * 1000)), int(step)))
    plist = [Param(k, v) for k, v in params.items()]
    tlist = [RunTag(k, v) for k, v in tags.items()]
    for i in range(0, max(len(metrics), 1), BATCH):
        mc.log_batch(mlflow_id, metrics=metrics[i:i + BATCH], params=plist[:100] if not i else [],
                     tags=tlist[:100] if not i else [])
    for i in range(100, max(len(plist), len(tlist)), 100):
        mc.log_batch(mlflow_id, params=plist[i:i + 100], tags=tlist[i:i + 100])
    return len(metrics)


def _last_step(mc: Any, mlflow_id: str, key: str) -> int | None:
    history = mc.get_metric_history(mlflow_id, key)
    return max((m.step for m in history), default=None)


def _artifacts(mc: Any, mlflow_id: str, store: Store, rid: str, old: Any) -> int:
    """Copy each artifact blob under its name into a folder, then upload the folder once."""
    import shutil

    arts = store.artifacts(rid)
    if old is not None:
        present = {a.path for a in mc.list_artifacts(mlflow_id)}
        arts = {k: v for k, v in arts.items() if k not in present}
    if not arts:
        return 0
    with tempfile.TemporaryDirectory(prefix="dii-export-") as tmp:
        for name, meta in arts.items():
            dest = Path(tmp) / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(meta["path"], dest)
            except OSError as err:
                raise BadInput(f"run {rid}: artifact {name!r} is missing from the store "
                               f"({meta['path']})") from err
        mc.log_artifacts(mlflow_id, tmp)
    return len(arts)
