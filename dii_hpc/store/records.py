"""Run records (run.json): statuses, creation, atomic updates, flattening for tables."""

from __future__ import annotations

import math
import secrets
import time
from pathlib import Path
from typing import Any

from dii_hpc import vocabulary as vocab
from dii_hpc.store.atomic import as_number, create_exclusive, read_json, write_json

RUN_FILE = "run.json"
CHANGED_DIR = ".changed"


def runs_path(root: Path, experiment: str) -> Path:
    """The folder of an experiment's runs under the store ``root`` (one sub-folder each)."""
    from dii_hpc.store.names import check_experiment

    return root / "experiments" / check_experiment(experiment) / "runs"


def run_path(root: Path, experiment: str, run_id: str) -> Path:
    """Where a run of ``experiment`` lives, whether or not it exists yet: the one place that
    spells a run's folder (`Store.run_path`; `Store.run_dir` finds a run by its id alone)."""
    return runs_path(root, experiment) / run_id


def new_record(
    run_id: str,
    experiment: str,
    kind: str,
    params: dict[str, Any] | None,
    tags: dict[str, Any] | None,
    status: str,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "experiment": experiment,
        "kind": kind,
        "status": status,
        "params": dict(params or {}),
        "tags": {k: str(v) for k, v in (tags or {}).items()},
        "created_time": time.time(),
        "start_time": None,
        "end_time": None,
        "error": None,
        "metrics": {},
        "manifest": {},
        "slurm": {},
        "parent_run": None,
    }


def read_record(run_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] = read_json(run_dir / RUN_FILE)
    return record


def write_record(run_dir: Path, record: dict[str, Any], *, was_terminal: bool = False) -> None:
    """Publish a record; a change to an already-finished run leaves a marker for compaction."""
    write_json(run_dir / RUN_FILE, record)
    if was_terminal:
        marker = run_dir.parent.parent / CHANGED_DIR / f"{record['run_id']}.{secrets.token_hex(4)}"
        create_exclusive(marker)


def _scalar(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One table row: run fields, then params.*, metrics.* (last values), tags.*, slurm.*."""
    start, end = record.get("start_time"), record.get("end_time")
    row: dict[str, Any] = {
        "run_id": record["run_id"],
        "experiment": record["experiment"],
        "kind": record.get("kind", "train"),
        "status": record.get("status"),
        "start_time": start,
        "end_time": end,
        "duration_s": (end - start) if (start is not None and end is not None) else math.nan,
    }
    for k, v in _flat_items(record.get("params") or {}):
        row[f"params.{k}"] = _scalar(v)
    for k, v in (record.get("metrics") or {}).items():
        row[f"metrics.{k}"] = as_number(v.get("last") if isinstance(v, dict) else v)  # "inf" -> inf
    for k, v in (record.get("tags") or {}).items():
        row[f"tags.{k}"] = _scalar(v)
    for k, v in (record.get("slurm") or {}).items():
        if not isinstance(v, (dict, list)):
            row[f"slurm.{k}"] = _scalar(v)
    return row


def _flat_items(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.extend(_flat_items(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def writer_gone(record: dict[str, Any], now: float | None = None, host: str | None = None) -> str | None:
    """Why a RUNNING run's writer is evidently dead, or None when it may still be alive.

    Same host: the recorded pid no longer exists. Any host: no heartbeat for six intervals
    (a writer rewrites run.json at least every ``heartbeat_interval`` seconds).
    """
    import os
    import socket

    if record.get("status") != vocab.RUNNING or not record.get("heartbeat"):
        return None
    pid, here = record.get("pid"), host or socket.gethostname()
    if pid and record.get("host") == here:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return f"writer process {pid} on {here} is gone"
        except PermissionError:
            pass
    interval = float(record.get("heartbeat_interval") or 10.0)
    silent = (now or time.time()) - float(record["heartbeat"])
    if silent > max(60.0, 6 * interval):
        return f"no heartbeat from the writer for {silent:.0f} s"
    return None


CANCEL_FILE = "cancel.json"


def request_cancel(run_dir: Path) -> None:
    """Note that the user cancelled this run (`dii-hpc cancel`), before the signal is sent:
    the run's writer, stopped by that signal, then ends it CANCELLED instead of KILLED.  A
    file of its own, since run.json is its writer's alone while the run runs."""
    write_json(run_dir / CANCEL_FILE, {"time": time.time()})


def cancel_requested(run_dir: Path) -> bool:
    return (run_dir / CANCEL_FILE).exists()


def clear_cancel(run_dir: Path) -> None:
    """A run started again (`resubmit`) is no longer cancelled."""
    (run_dir / CANCEL_FILE).unlink(missing_ok=True)
