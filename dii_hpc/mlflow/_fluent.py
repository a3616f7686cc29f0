"""MLflow's fluent run API (start_run, log_metric, set_tag, end_run...) on a dii-hpc store.

Each MLflow run is a dii-hpc run written by ``dii_hpc.tracking``, so a point costs what
``Run.log_metric`` costs plus one call. Differences from MLflow, each deliberate:
experiments are named (an experiment's id is its name); the "tracking URI" is a store
folder (a server, a database, ``databricks`` or an MLflow ``mlruns`` folder is refused); a metric logged without a step gets the key's next step (MLflow: step 0); a process
launched by ``dii-hpc run`` or the Executor attaches its first ``start_run`` to the
launcher's run. Runs left open end FINISHED at exit, as MLflow's do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dii_hpc.errors import BadInput, NotFound, NotSupported
from dii_hpc.mlflow._entities import (
    FROM_MLFLOW_STATUS,
    SERVICE_NAMES,
    ActiveRun,
    Experiment,
    Run,
    RunInfo,
    is_mlruns,
    millis,
    param_text,
)
from dii_hpc.store.store import Store

DEFAULT_EXPERIMENT = "Default"
_stack: list[ActiveRun] = []
_state: dict[str, Any] = {"store": None, "experiment": None, "last": None, "attached": False}
os.register_at_fork(after_in_child=_stack.clear)  # a forked worker does not own these runs


# ------------------------------------------------------------------ store and experiments
def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Point at a dii-hpc store folder (a path or ``file:`` URI); a server, a database or an
    MLflow store folder is refused rather than written into or mistaken for a folder name."""
    text = os.fspath(uri)
    parsed = urlparse(text)
    path = parsed.path if parsed.scheme == "file" else text
    if text in SERVICE_NAMES or (len(parsed.scheme) > 1 and parsed.scheme != "file"):
        raise BadInput(f"set_tracking_uri({text!r}): dii_hpc.mlflow writes to a dii-hpc store "
                       "folder; give a path (use `dii-hpc export --to mlflow` for a server)")
    if is_mlruns(path):
        raise BadInput(f"set_tracking_uri({text!r}): {path} is an MLflow store; dii_hpc.mlflow "
                       f"writes to a dii-hpc store folder (bring its runs over with `dii-hpc "
                       f"import mlflow {path}`)")
    _state["store"] = Store(path)


def get_tracking_uri() -> str:
    return _store().root.as_uri()


def _store() -> Store:
    if _state["store"] is None:
        _state["store"] = Store()
    return _state["store"]


def _experiment_of(name: str) -> Experiment:
    return Experiment(name, name, _store().experiment_dir(name).as_uri())


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None,
                   **_ignored: Any) -> Experiment:
    """Make ``experiment_name`` (or id: the same thing here) the target of new runs."""
    name = experiment_name or experiment_id
    if not name:
        raise BadInput("set_experiment: give experiment_name or experiment_id")
    create_experiment(name)
    _state["experiment"] = name
    return _experiment_of(name)


def create_experiment(name: str, artifact_location: str | None = None,
                      tags: dict[str, Any] | None = None, **_ignored: Any) -> str:
    store = _store()
    store.ensure_writable()
    store.runs_dir(name).mkdir(parents=True, exist_ok=True)
    return name


def get_experiment_by_name(name: str) -> Experiment | None:
    return _experiment_of(name) if name in _store().experiments() else None


def get_experiment(experiment_id: str) -> Experiment:
    store = _store()
    if experiment_id not in store.experiments():
        raise NotFound("experiment", experiment_id, store.experiments())
    return _experiment_of(experiment_id)


def _current_experiment() -> str:
    return _state["experiment"] or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


# ------------------------------------------------------------------------------- runs
def start_run(run_id: str | None = None, experiment_id: str | None = None,
              run_name: str | None = None, nested: bool = False,
              parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None,
              ) -> ActiveRun:
    """Start (or resume, with ``run_id``) a run; ``nested=True`` under the active one."""
    from dii_hpc.tracking import run as tracking
    from dii_hpc.tracking.exits import finish_at_exit

    if _stack and not nested:
        raise BadInput(f"start_run: run {_stack[-1].info.run_id} is already active; end it "
                       "first or pass nested=True")
    all_tags = {**({} if run_id else _context_tags()),
                **{str(k): str(v) for k, v in (tags or {}).items()}}
    if run_name:
        all_tags["mlflow.runName"] = str(run_name)
    if description:
        all_tags["mlflow.note.content"] = str(description)
    parent = parent_run_id or (_stack[-1].info.run_id if _stack else None)
    if parent:
        all_tags["mlflow.parentRunId"] = parent
    attached = _attach() if not (_stack or run_id or experiment_id) else None
    if attached is not None:
        attached.set_tags(all_tags)
        run = attached
    else:
        store = _store()
        exp = experiment_id or _current_experiment()
        if run_id is not None:
            exp = store.run(run_id)["experiment"]
        run = tracking.start_run(exp, tags=all_tags, store=store, run_id=run_id,
                                 parent_run=parent or os.environ.get("DII_HPC_RUN_ID") or None)
        finish_at_exit(run)  # MLflow ends runs left open FINISHED at exit
    active = ActiveRun(run, _info(run), end_run)
    _stack.append(active)
    return active


def _context_tags() -> dict[str, str]:
    """The tags MLflow's context providers set on a new run (user, source script)."""
    import getpass
    import sys

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = str(os.getuid())
    return {"mlflow.user": user, "mlflow.source.name": sys.argv[0] if sys.argv else "",
            "mlflow.source.type": "LOCAL"}


def _attach() -> Any:
    """The launcher's run (``dii-hpc run``, the Executor), once per process."""
    if _state["attached"] or not os.environ.get("DII_HPC_RUN_ID"):
        return None
    from dii_hpc.tracking.fluent import active_run as tracked

    _state["attached"] = True
    _state["store"] = Store(os.environ.get("DII_HPC_STORE"))
    return tracked()


def _info(run: Any) -> RunInfo:
    rec = run.record
    return RunInfo(run_id=run.id, experiment_id=run.experiment,
                   run_name=rec.get("tags", {}).get("mlflow.runName"), status="RUNNING",
                   start_time=millis(rec.get("start_time")), end_time=None,
                   artifact_uri=Path(run.dir).as_uri())


def active_run() -> ActiveRun | None:
    return _stack[-1] if _stack else None


def last_active_run() -> Run | None:
    rid = _stack[-1].info.run_id if _stack else _state["last"]
    return get_run(rid) if rid else None


def end_run(status: str = "FINISHED", _which: ActiveRun | None = None) -> None:
    """End the active run (the innermost); nothing happens when no run is active."""
    if not _stack:
        return
    active = _which if _which in _stack else _stack[-1]
    if status not in FROM_MLFLOW_STATUS:
        raise BadInput(f"end_run: unknown status {status!r}: expected one of "
                       f"{', '.join(FROM_MLFLOW_STATUS)}")
    while _stack and _stack[-1] is not active:  # MLflow ends nested runs with their parent
        _stack.pop()._run.finish("FINISHED")
    _stack.pop()
    active._run.finish(FROM_MLFLOW_STATUS[status])
    active.info.status, active.info.end_time = status, millis(active._run.record.get("end_time"))
    _state["last"] = active.info.run_id


def _active() -> Any:
    """The dii-hpc Run logging goes to; like MLflow, a first log call starts a run."""
    return (_stack[-1] if _stack else start_run())._run


def _only_active(fn: str, run_id: str | None) -> Any:
    run = _active()
    if run_id is not None and run_id != run.id:
        raise NotSupported(f"dii_hpc.mlflow.{fn}(run_id=...) logs to the active run only")
    return run


# ---------------------------------------------------------------------------- logging
def log_metric(key: str, value: float, step: int | None = None, synchronous: bool | None = None,
               timestamp: int | None = None, run_id: str | None = None, model_id: Any = None,
               dataset: Any = None) -> None:
    if timestamp is not None or run_id is not None or model_id is not None or dataset is not None:
        _refuse_metric_extras("log_metric", timestamp, run_id, model_id, dataset)
    (_stack[-1]._run if _stack else _active()).log_metric(key, value, step)


def log_metrics(metrics: dict[str, float], step: int | None = None,
                synchronous: bool | None = None, run_id: str | None = None,
                timestamp: int | None = None, model_id: Any = None, dataset: Any = None) -> None:
    if timestamp is not None or run_id is not None or model_id is not None or dataset is not None:
        _refuse_metric_extras("log_metrics", timestamp, run_id, model_id, dataset)
    (_stack[-1]._run if _stack else _active()).log_metrics(metrics, step)


def _refuse_metric_extras(fn: str, timestamp: Any, run_id: Any, model_id: Any,
                          dataset: Any) -> None:
    if run_id is not None:
        _only_active(fn, run_id)
    for name, value in (("timestamp", timestamp), ("model_id", model_id), ("dataset", dataset)):
        if value is not None:
            raise NotSupported(f"dii_hpc.mlflow.{fn}({name}=...) is not supported "
                               "(dii-hpc stamps each point when it is logged)")


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    log_params({key: value})
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None,
               run_id: str | None = None) -> None:
    """Like MLflow, a param cannot change value once logged in a run."""
    run = _only_active("log_params", run_id)
    old = run.record.get("params") or {}
    for key, value in params.items():
        if key in old and param_text(old[key]) != param_text(value):
            raise BadInput(f"log_param: param {key!r} of run {run.id} is already "
                           f"{param_text(old[key])!r}; cannot change it to {param_text(value)!r}")
    run.log_params(dict(params))


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    _active().set_tags({key: value})


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    _active().set_tags(dict(tags))


def delete_tag(key: str) -> None:
    run = _active()
    with run._record_lock:
        if key not in run.record.get("tags", {}):
            raise BadInput(f"delete_tag: run {run.id} has no tag {key!r}")
        del run.record["tags"][key]
    run.set_tags({})


def get_run(run_id: str) -> Run:
    store = _store()
    return Run.from_record(store.run(run_id), store.root)


def get_parent_run(run_id: str) -> Run | None:
    parent = _store().run(run_id).get("parent_run")
    return get_run(parent) if parent else None


def get_artifact_uri(artifact_path: str | None = None) -> str:
    base = _active().dir.as_uri()
    return f"{base}/{artifact_path}" if artifact_path else base
