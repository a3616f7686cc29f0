"""Status reconciliation: the decision table, and dead local processes never stay RUNNING."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dii_hpc.launch.status import VANISH_GRACE_S, decide, reconcile
from dii_hpc.store.store import Store


@pytest.mark.parametrize(("run", "sched", "age", "expected"), [
    ("RUNNING", {"state": "TIMEOUT", "slurm_state": "TIMEOUT"}, 5, ("TIMEOUT", "Slurm: TIMEOUT")),
    ("KILLED", {"state": "CANCELLED", "slurm_state": "CANCELLED by 0"}, 5,
     ("CANCELLED", "Slurm: CANCELLED by 0")),
    ("RUNNING", {"state": "FINISHED"}, 5,
     ("FAILED", "the job ended but the run never finished (process died?)")),
    ("FINISHED", {"state": "FINISHED"}, 5, ("FINISHED", None)),
    ("FAILED", {"state": "FINISHED"}, 5, ("FAILED", None)),
    ("PENDING", {"state": "RUNNING"}, 5, (None, None)),
    ("PENDING", {"state": "PENDING", "requeue_count": 1}, 5, (None, None)),
    ("PENDING", {"state": "OUT_OF_MEMORY", "slurm_state": "OUT_OF_MEMORY"}, 5,
     ("OUT_OF_MEMORY", "Slurm: OUT_OF_MEMORY")),
    ("KILLED", {"state": "PENDING", "requeue_count": 1}, 5, ("PENDING", None)),
    ("FINISHED", {"state": "PENDING", "requeue_count": 0}, 5, (None, None)),
    ("PENDING", None, 5, (None, None)),  # accounting lags a fresh submission
    ("RUNNING", None, VANISH_GRACE_S + 1,
     ("FAILED", "the scheduler no longer knows this job and the run never finished")),
    ("FINISHED", None, VANISH_GRACE_S + 1, (None, None)),
])
def test_decide(run: str, sched: dict | None, age: float, expected: tuple) -> None:
    assert decide(run, sched, age) == expected


def test_dead_local_process_ends_failed(store_path: Path) -> None:
    import socket

    store = Store(store_path)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = store.create_run("loc", status="RUNNING")
    store.update_run(dead, launch={"executor": "local", "host": socket.gethostname(),
                                   "pid": proc.pid})
    alive = store.create_run("loc", status="RUNNING")
    store.update_run(alive, launch={"executor": "local", "host": socket.gethostname(),
                                    "pid": __import__("os").getpid()})
    rows = {r["run_id"]: r["status"] for r in reconcile(store, "loc")}
    assert rows == {dead: "FAILED", alive: "RUNNING"}
    assert "died" in store.run(dead)["error"]
