"""Module-level ``dii_hpc.log_metric`` and friends: they go to the active run of the process.

A process started by ``dii-hpc run`` or the Executor finds its run through DII_HPC_STORE +
DII_HPC_RUN_ID and attaches to it without owning its status: the launcher decides the end
state from the exit code; the attached process only flushes.
"""

from __future__ import annotations

import os
from typing import Any

from dii_hpc.errors import BadInput
from dii_hpc.store import records
from dii_hpc.store.store import Store
from dii_hpc.tracking import active
from dii_hpc.tracking.ranks import SilentRun
from dii_hpc.tracking.run import Run, start_run


def active_run() -> Run | SilentRun | None:
    """The innermost open run, attaching to the launcher's run when the environment names one."""
    run = active.top()
    if run is not None:
        return run
    run_id = os.environ.get("DII_HPC_RUN_ID")
    if not run_id:
        return None
    return _attach(run_id)


def _attach(run_id: str) -> Run | SilentRun:
    """The launcher's run; on rank k > 0 of a multi-rank command, rank 0's run seen as that
    rank (silent, or its own `rank<k>/` arrays when the run was launched with all_ranks)."""
    from dii_hpc import distributed

    store = Store(os.environ.get("DII_HPC_STORE"))
    record = records.read_record(store.run_dir(run_id))
    all_ranks = bool((record.get("launch") or {}).get("all_ranks"))
    rank = distributed.rank()
    if rank != 0:
        return start_run(record["experiment"], store=store, run_id=record["run_id"], rank=rank,
                         all_ranks=all_ranks)
    run = Run(store, record, resumed=True, owns_status=False,
              key_prefix="rank0/" if all_ranks else "")
    active.push(run)
    return run


def _require() -> Run | SilentRun:
    run = active_run()
    if run is None:
        raise BadInput("no active run: use dii_hpc.start_run(...) or launch through dii-hpc")
    return run


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _require().log_metric(key, value, step)


def log_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
    _require().log_metrics(metrics, step)


def log_params(params: dict[str, Any]) -> None:
    _require().log_params(params)


def set_tags(tags: dict[str, Any]) -> None:
    _require().set_tags(tags)


def log_artifact(path: str, name: str | None = None) -> str:
    return _require().log_artifact(path, name)
