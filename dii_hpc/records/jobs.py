"""Job records: ``<store>/jobs/<name>.json``, what each submission sent to an executor.

One record per submission (a sweep's array, an adaptive sweep's workers, a `dii-hpc run`
command as ``run-<run id>``): its executor, the Slurm arrays, run id -> job id, and for a
command the spec `resubmit` starts again. Its submitit folder (pickled tasks, logs) is
``<store>/jobs/<name>/``. The launch package writes them; `status`, `cancel`, `resubmit`,
adaptive sweeps and `store gc` read them here, never by globbing the folder themselves.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


class JobRecord(BaseModel):
    """A submission as status and cancel need it (fields a newer version adds are kept)."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    submission_id: str | None = None
    experiment: str | None = None
    executor: str | None = None  # slurm | local | debug
    plan_file: str | None = None
    arrays: list[str] = []  # Slurm array job ids
    runs: dict[str, str] = {}  # run id -> job id ("" until known)
    tasks: dict[str, int] = {}  # run id -> task index in the plan
    workers: dict[str, str] = {}  # an adaptive sweep: worker index -> job id
    command: dict[str, Any] | None = None  # `dii-hpc run`: the spec resubmit starts again
    submitted: float = 0.0
    host: str | None = None
    written: float | None = None


def root(store: Store) -> Path:
    return store.jobs_dir


def path(store: Store, name: str) -> Path:
    return root(store) / f"{name}.json"


def folder(store: Store, name: str) -> Path:
    """The submission's executor folder (submitit's pickles and logs)."""
    return root(store) / name


def write(store: Store, name: str, record: JobRecord) -> Path:
    from dii_hpc.store.atomic import write_json

    store.ensure_writable()
    target = path(store, name)
    write_json(target, {**record.model_dump(exclude_none=True), "written": time.time()})
    return target


def read(store: Store, name: str) -> JobRecord | None:
    """The record ``name``; None when absent or unreadable (a record being replaced, a
    foreign file): readers go on with the others."""
    return _read(path(store, name))


def _read(file: Path) -> JobRecord | None:
    from dii_hpc.store.atomic import read_json

    with contextlib.suppress(OSError, ValueError, ValidationError):
        return JobRecord.model_validate(read_json(file))
    return None


def every(store: Store) -> list[tuple[str, JobRecord]]:
    """(name, record) of every readable record, oldest submission first."""
    base = root(store)
    found = [(p.stem, _read(p)) for p in sorted(base.glob("*.json"))] if base.is_dir() else []
    return sorted(((n, r) for n, r in found if r is not None), key=lambda nr: nr[1].submitted)
