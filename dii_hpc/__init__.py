"""dii-hpc: a trusted-AI platform for Slurm clusters, with a shared filesystem as database.

Names are resolved lazily so that ``import dii_hpc`` (and ``dii-hpc --help``) stays fast:
pandas, zarr and torch load only when the function that needs them runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dii_hpc import _lazy
from dii_hpc._version import __version__

_LAZY = {
    "start_run": "dii_hpc.tracking.run",
    "Run": "dii_hpc.tracking.run",
    "active_run": "dii_hpc.tracking.fluent",
    "log_metric": "dii_hpc.tracking.fluent",
    "log_metrics": "dii_hpc.tracking.fluent",
    "log_params": "dii_hpc.tracking.fluent",
    "log_artifact": "dii_hpc.tracking.fluent",
    "set_tags": "dii_hpc.tracking.fluent",
    "Store": "dii_hpc.store.store",
    "Registry": "dii_hpc.registry.registry",
    "DiiError": "dii_hpc.errors",
    "Executor": "dii_hpc.launch.executor",
    "Model": "dii_hpc.launch.protocols",
    "DatasetLoader": "dii_hpc.launch.protocols",
}

__all__ = [
    "__version__",
    "start_run",
    "Run",
    "active_run",
    "log_metric",
    "log_metrics",
    "log_params",
    "log_artifact",
    "set_tags",
    "Store",
    "Registry",
    "DiiError",
    "Executor",
    "Model",
    "DatasetLoader",
]

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.errors import DiiError
    from dii_hpc.launch.executor import Executor
    from dii_hpc.launch.protocols import DatasetLoader, Model
    from dii_hpc.registry.registry import Registry
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.fluent import (
        active_run,
        log_artifact,
        log_metric,
        log_metrics,
        log_params,
        set_tags,
    )
    from dii_hpc.tracking.run import Run, start_run


_SUBMODULES = ("distributed",)  # `dii_hpc.distributed.env()` after a plain `import dii_hpc`


def __getattr__(name: str) -> Any:
    return _lazy.load(globals(), _LAZY, name, submodules=_SUBMODULES)


def _register_integrations() -> None:
    """``TrainingArguments(report_to=["dii-hpc"])`` in any process that imported dii_hpc
    (transformers is not imported here: see ``integrations.transformers.register``)."""
    from dii_hpc.integrations import transformers

    transformers.register()


_register_integrations()
