"""MLflow's fluent tracking API on the dii-hpc store: ``import dii_hpc.mlflow as mlflow``.

An existing MLflow script runs unchanged but for its import line: ``set_experiment``,
``start_run`` (a context manager, ``run_name``, ``nested=True``), ``active_run``,
``log_param(s)``, ``log_metric(s)`` with ``step``, ``set_tag(s)``, ``log_artifact(s)``,
``log_dict``, ``log_text``, ``log_figure``, ``end_run`` and ``search_runs`` (MLflow's column
names) write and read dii-hpc runs. MLflow itself is not needed. Any other MLflow name
(``autolog``, ``pytorch``, ``log_model``...) raises ``NotSupported`` naming it, at the
moment it is looked up. See ``_fluent`` for the few deliberate differences.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.errors import NotSupported
from dii_hpc.mlflow._artifacts import log_artifact, log_artifacts, log_dict, log_figure, log_text
from dii_hpc.mlflow._entities import ActiveRun, Experiment, Run, RunData, RunInfo
from dii_hpc.mlflow._fluent import (
    active_run,
    create_experiment,
    delete_tag,
    end_run,
    get_artifact_uri,
    get_experiment,
    get_experiment_by_name,
    get_parent_run,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from dii_hpc.mlflow._search import search_runs

__all__ = [
    "ActiveRun", "Experiment", "Run", "RunData", "RunInfo",
    "active_run", "create_experiment", "delete_tag", "end_run", "get_artifact_uri",
    "get_experiment", "get_experiment_by_name", "get_parent_run", "get_run", "get_tracking_uri",
    "last_active_run", "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_metric",
    "log_metrics", "log_param", "log_params", "log_text", "search_runs", "set_experiment",
    "set_tag", "set_tags", "set_tracking_uri", "start_run",
]


def __getattr__(name: str) -> Any:
    """Every other MLflow name: one clear error that names it (dunders stay AttributeErrors,
    so introspection and pickling behave)."""
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module 'dii_hpc.mlflow' has no attribute {name!r}")
    raise NotSupported(f"mlflow.{name} is not supported by dii_hpc.mlflow (it offers: "
                       f"{', '.join(n for n in __all__ if n[0].islower())})")
