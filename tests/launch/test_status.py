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


@pytest.mark.parametrize(("run", "state", "expected"), [
    ("FINISHED", "CANCELLED", "FINISHED"), ("FINISHED", "FAILED", "FINISHED"),
    ("FINISHED", "TIMEOUT", "FINISHED"), ("PRUNED", "CANCELLED", "PRUNED"),
    ("FAILED", "CANCELLED", "FAILED"), ("FAILED", "TIMEOUT", "FAILED"),
    ("FAILED", "OUT_OF_MEMORY", "OUT_OF_MEMORY"), ("FAILED", "NODE_FAIL", "NODE_FAIL"),
    ("KILLED", "TIMEOUT", "TIMEOUT"), ("KILLED", "PREEMPTED", "PREEMPTED"),
    ("KILLED", "FAILED", "FAILED"), ("KILLED", "NODE_FAIL", "NODE_FAIL"),
])
def test_a_recorded_end_stands_unless_the_job_explains_it(run: str, state: str,
                                                          expected: str) -> None:
    """A run that recorded its own end keeps it when its job ends later in another state (a
    study worker's job cancelled after its trial's run FINISHED turned that run CANCELLED);
    the scheduler refines only ends it explains: a KILLED run was signalled by a time limit,
    a preemption, a cancel, a failed rank; a FAILED one may have run out of memory."""
    new, error = decide(run, {"state": state, "slurm_state": state}, 5)
    assert new == expected
    assert error == (f"Slurm: {state}" if expected == state else None)


@pytest.mark.parametrize(("run", "state", "expected"), [
    ("RUNNING", "FAILED", "CANCELLED"), ("RUNNING", "CANCELLED", "CANCELLED"),
    ("RUNNING", "FINISHED", "CANCELLED"), ("PENDING", "CANCELLED", "CANCELLED"),
    ("CANCELLED", "FAILED", None), ("FINISHED", "FINISHED", "FINISHED"),
    ("RUNNING", "RUNNING", None),
])
def test_decide_after_a_cancel(run: str, state: str, expected: str | None) -> None:
    """A run `dii-hpc cancel` asked to stop whose job ended first (a multi-node job whose
    ranks the cancel killed ends FAILED in Slurm) is CANCELLED; an end it wrote stands."""
    new, error = decide(run, {"state": state, "slurm_state": state}, 5, cancelled=True)
    assert new == expected
    if new == "CANCELLED" and run != "CANCELLED":
        assert error == "cancelled by the user (dii-hpc cancel)"


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
    assert store.run(dead)["error"] == (f"the run never finished: writer process {proc.pid} on "
                                        f"{socket.gethostname()} is gone")


def test_a_killed_run_is_failed_naming_its_writer_in_the_status_row(store_path: Path) -> None:
    """#26: a run whose process was killed (kill -9: nothing could end it) was reconciled
    FAILED with an empty error in `dii-hpc status`.  The row and the record say which writer
    process on which host is gone."""
    import os
    import signal
    import socket

    from tests.conftest import run_cli

    child = subprocess.Popen([sys.executable, "-c", (
        "import dii_hpc, time\nrun = dii_hpc.start_run('killed')\nprint(run.id, flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "DII_HPC_STORE": str(store_path)})
    rid = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    res = run_cli("status", "killed")
    assert res.returncode == 0, res.stderr
    why = f"the run never finished: writer process {child.pid} on {socket.gethostname()} is gone"
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith(rid)]
    assert "FAILED" in line and line.endswith(why), res.stdout
    rec = Store(store_path).run(rid)
    assert rec["status"] == "FAILED" and rec["error"] == why
