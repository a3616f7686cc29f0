"""`store gc` keeps the folder of a submission with no run of its own (an adaptive sweep's
workers) while its jobs may still be queued or running, whatever the folder's age
(`launch.storefolder`); before, age alone decided and a worker queued longer than the cut-off
lost its pickled task."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dii_hpc.records import jobs
from dii_hpc.store.gc import gc
from dii_hpc.store.store import Store
from tests.conftest import until

WEEK = 7 * 86400.0


def _workers(store: Store, name: str, executor: str, job_ids: list[str],
             host: str | None = None, submitted: float | None = None) -> Path:
    """A run-less submission record and its folder, last written two weeks ago."""
    folder = store.jobs_dir / name
    (folder / "submitit").mkdir(parents=True)
    for file in (folder / "plan.json", folder / "submitit" / "worker_submitted.pkl"):
        file.write_bytes(b"the worker's task")
    old = time.time() - 2 * WEEK
    for path in (folder / "plan.json", folder / "submitit" / "worker_submitted.pkl",
                 folder / "submitit", folder):
        os.utime(path, (old, old))
    jobs.write(store, name, jobs.JobRecord(
        submission_id=name, executor=executor, workers=dict(enumerate(job_ids)),
        submitted=old if submitted is None else submitted,
        host=os.uname().nodename if host is None else host))
    return folder


def test_a_local_worker_alive_keeps_its_folder_until_it_is_gone(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    worker = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    try:
        folder = _workers(store, "STUDY", "local", [str(worker.pid)])
        res = gc(store, WEEK)
        assert res["job_folders"] == [] and res["job_folders_in_use"] == ["STUDY"]
        assert (folder / "submitit" / "worker_submitted.pkl").is_file()
    finally:
        worker.stdin.close()  # type: ignore[union-attr]
        worker.wait(timeout=60)
    res = gc(store, WEEK)
    assert res["job_folders"] == ["STUDY"] and res["job_folders_in_use"] == []
    assert not folder.exists()


def test_workers_of_another_host_are_kept_as_unknown(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    folder = _workers(store, "ELSEWHERE", "local", ["1"], host="another-host")
    assert gc(store, WEEK)["job_folders_in_use"] == ["ELSEWHERE"] and folder.is_dir()


def test_a_dry_run_names_the_kept_folder_and_removes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    folder = _workers(store, "ELSEWHERE", "local", ["1"], host="another-host")
    (tmp_path / "store" / "jobs" / "DONE").mkdir()
    os.utime(tmp_path / "store" / "jobs" / "DONE", (0, 0))
    res = gc(store, WEEK, dry_run=True)
    assert res["job_folders"] == ["DONE"] and res["job_folders_in_use"] == ["ELSEWHERE"]
    assert folder.is_dir() and (tmp_path / "store" / "jobs" / "DONE").is_dir()


def test_the_cli_says_which_folder_it_kept_and_why(store_path: Path) -> None:
    from tests.conftest import run_cli

    folder = _workers(Store(store_path), "ELSEWHERE", "local", ["1"], host="another-host")
    proc = run_cli("store", "gc", "--older-than", "7d")
    assert proc.returncode == 0, proc.stderr
    assert ("kept job folder jobs/ELSEWHERE: its jobs may still be queued or running"
            in proc.stdout) and folder.is_dir(), proc.stdout


def _wait_state(job_id: str, ended: bool) -> None:
    """Until the scheduler lists the job as ended (or as not ended)."""
    from dii_hpc.slurm import commands
    from dii_hpc.vocabulary import TERMINAL

    def seen() -> bool:
        states = {str(i.get("state")) for i in commands.query_jobs([job_id]).values()}
        return bool(states) and all(s in TERMINAL for s in states) == ended

    until(f"job {job_id} {'ended' if ended else 'queued'}", seen)


@pytest.mark.slurm
def test_a_queued_slurm_worker_keeps_its_folder_until_the_scheduler_ends_it(
        tmp_path: Path) -> None:
    """A real held (queued) Slurm job: kept while queued, removed once cancelled."""
    store = Store(tmp_path / "store")
    job_id = subprocess.run(["sbatch", "--hold", "--parsable", "--job-name=dii-gc-held",
                             f"--output={tmp_path}/held.out", "--wrap", "true"],
                            check=True, capture_output=True, text=True).stdout.strip().split(";")[0]
    try:
        _wait_state(job_id, ended=False)
        folder = _workers(store, "QUEUED", "slurm", [job_id])
        res = gc(store, WEEK)
        assert res["job_folders"] == [] and res["job_folders_in_use"] == ["QUEUED"]
        assert (folder / "plan.json").is_file()
    finally:
        subprocess.run(["scancel", job_id], check=False)
    _wait_state(job_id, ended=True)
    res = gc(store, WEEK)
    assert res["job_folders"] == ["QUEUED"] and not folder.exists()


@pytest.mark.slurm
def test_a_slurm_job_the_scheduler_never_listed_is_kept_only_in_its_first_minutes(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    _workers(store, "NEW", "slurm", ["999999990"], submitted=time.time())
    _workers(store, "FORGOTTEN", "slurm", ["999999991"])
    res = gc(store, WEEK)
    assert res["job_folders"] == ["FORGOTTEN"] and res["job_folders_in_use"] == ["NEW"]
