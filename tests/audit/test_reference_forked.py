"""Reference models in workers forked from the submitting process (`placement.forked`) and
the choice of placement from the measured times (`packing.choose`): the same models as one
process, a worker killed mid-pack leaves its finished models, and no OpenMP hang after fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.core.data import prepare as build
from dii_hpc.audit.job import AuditJob, of
from dii_hpc.audit.placement import packing
from dii_hpc.audit.privacy.reference import attacks as ra
from dii_hpc.audit.privacy.reference import training
from dii_hpc.errors import BadInput, SchedulerError
from dii_hpc.records import jobs as job_records
from dii_hpc.store.store import Store

DATA = "dii_hpc.examples.tabular:breast_cancer_data"
SKLEARN = {"factory": "dii_hpc.examples.tabular:breast_cancer_sklearn", "params": {"C": 1.0}}


def test_the_placement_is_the_cheapest_by_the_measured_times() -> None:
    # 16 models of 0.21 s, 2 cores, a fresh task starting in 3.05 s (the benchmark's figures)
    forked = packing.choose(16, 0.21, 3.05, 2, "local", fork_s=0.05)
    assert (forked.how, forked.tasks, forked.per_task) == ("forked", 2, 8)
    assert forked.estimate_s == pytest.approx(0.05 + 8 * 0.21)
    here = packing.choose(16, 0.21, 3.05, 2, "local", fork_s=None)  # forking unsafe
    assert (here.how, here.tasks) == ("here", 1)
    assert "costs more than it saves" in here.line
    cheap = packing.choose(16, 0.21, 0.1, 2, "local", fork_s=None)  # a cheap start pays
    # start <= 10% of a task with 5 or more models; 16 fill one round of 2 tasks of 8 (four
    # tasks of 4 in two rounds paid the start twice, each 10.6% of its task)
    assert (cheap.how, cheap.tasks, cheap.per_task) == ("array", 2, 8)
    assert cheap.estimate_s == pytest.approx(0.1 + 8 * 0.21)
    assert packing.choose(16, 0.21, 3.05, 1, "local", fork_s=0.05).how == "here"  # one core
    assert packing.choose(16, 60.0, 3.05, 2, "local", fork_s=0.05).how == "forked"
    slurm = packing.choose(16, 0.21, 7.9, 5, "slurm", fork_s=0.05)  # no fork, no here on Slurm
    assert (slurm.how, slurm.tasks, slurm.per_task) == ("array", 4, 4)
    assert "costs more than it saves" in slurm.line
    assert "costs more" not in packing.choose(16, 60.0, 7.9, 5, "slurm").line
    # tasks that hold a node's CPUs and fork a worker each: one start for as much work
    held = packing.choose(16, 0.21, 7.9, 2, "slurm", node_cpus=2)
    assert (held.how, held.tasks, held.per_task, held.cpus) == ("array", 1, 16, 2)
    assert held.estimate_s == pytest.approx(7.9 + 8 * 0.21)
    slow = packing.choose(16, 0.21, 7.9, 2, "slurm", node_cpus=2, held_s=9.0)  # measured
    assert (slow.tasks, slow.per_task, slow.cpus) == (2, 8, 1)
    spread = packing.choose(16, 0.21, 7.9, 8, "slurm", node_cpus=4)
    assert (spread.tasks, spread.per_task, spread.cpus) == (2, 8, 4)
    forced = packing.choose(16, 0.21, 3.05, 2, "local", fork_s=0.05, forced="array")
    assert (forced.how, "DII_HPC_PLACEMENT=array" in forced.line) == ("array", True)
    with pytest.raises(BadInput, match="DII_HPC_PLACEMENT=fast"):
        packing.choose(16, 0.21, 3.05, 2, "local", forced="fast")
    unknown = packing.choose(16, None, 3.05, 2, "local", fork_s=0.05)
    assert (unknown.how, unknown.per_task, unknown.tasks) == ("array", 1, 16)


def _job(model: dict[str, Any], n: int, slots: int | None = None) -> AuditJob:
    conf: dict[str, Any] = {"model": model, "data": DATA, "seed": 0, "n_samples": 100,
                            "experiment": "forked"}
    if slots:
        conf["resources"] = {"array_parallelism": slots}
    return of(conf, "II", "lira", {"n_reference": n})


def _outputs(job: AuditJob, n: int) -> np.ndarray:
    return ra.request_plan({"set": "halves", "n_reference": n}, job, build(job)).outputs()


def test_forked_workers_train_the_models_of_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 7
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "inline"))
    training.prepare(_job(SKLEARN, n))
    expected = _outputs(_job(SKLEARN, n), n)

    store = tmp_path / "forked"
    monkeypatch.setenv("DII_HPC_STORE", str(store))
    # these models take milliseconds: a free fork makes the workers the cheapest placement
    packing.record_start(store, "forked", 0.0)
    out, _ = training.prepare(_job(SKLEARN, n, slots=2), executor="processes")
    assert out is not None and out["trained"] == n and out["placement"] == "forked"
    assert (out["packing"]["tasks"], out["packing"]["per_task"]) == (2, 3)
    assert out["placement_line"].startswith("forked (2 x 3)")
    assert out["packing"]["start_now_s"] > 0  # the workers' start, kept for the next array
    assert packing.start_cost(store, "forked") == (
        pytest.approx(out["packing"]["start_now_s"], abs=1e-3), True)
    records = [r for _, r in job_records.every(Store(store))]
    assert [len(r.arrays) for r in records] == [2]  # recorded like any array: two workers
    assert np.array_equal(_outputs(_job(SKLEARN, n), n), expected)


def _kill_the_first_stalled(folder: Path, workers: int, killed: list[int]) -> None:
    """Once every worker stalls on its second model, SIGKILL one (deadline: 120 s)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stalled = sorted(folder.glob("stalled-*"))
        if len(stalled) == workers:
            pid = int(stalled[0].name.split("-")[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)  # polling the state, with a deadline


def test_a_killed_worker_leaves_its_finished_models_and_the_rerun_trains_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "signals"
    folder.mkdir()
    (folder / "stall").touch()
    model = {"factory": "tests.audit.packing_models:stalls_in_workers",
             "params": {"folder": str(folder)}}
    n = 7
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "inline"))
    training.prepare(_job(model, n))
    expected = _outputs(_job(model, n), n)

    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "forked"))
    packing.record_start(tmp_path / "forked", "forked", 0.0)  # workers: the cheapest
    killed: list[int] = []
    killer = threading.Thread(target=_kill_the_first_stalled, args=(folder, 2, killed))
    killer.start()
    try:
        with pytest.raises(SchedulerError, match="killed by SIGKILL"):
            training.prepare(_job(model, n, slots=2), executor="processes")
    finally:
        killer.join()
    assert killed
    plan = ra.request_plan({"set": "halves", "n_reference": n}, _job(model, n),
                           build(_job(model, n)))
    kept = n - len(plan.missing())
    assert kept == 3  # the one measured here and the first model of each worker
    (folder / "stall").unlink()
    again, _ = training.prepare(_job(model, n, slots=2), executor="processes")
    assert again is not None and (again["trained"], again["reused"]) == (n - kept, kept)
    assert np.array_equal(_outputs(_job(model, n), n), expected)


FORK_AFTER_OPENMP = """
import torch
from dii_hpc.audit.placement import forked
torch.set_num_threads(2)
a = torch.randn(600, 600)
(a @ a).sum()  # the parent's OpenMP pool is up
def work(k):
    b = torch.randn(600, 600)
    return float((b @ b).sum()) * 0 + k
print(sorted(r["result"] for r in forked.run(work, [(0,), (1,)], ["a", "b"], "check")))
"""


def test_forked_workers_do_not_hang_after_the_parent_used_openmp_threads() -> None:
    """GNU OpenMP is not fork-safe: a child using several threads after the parent's pool
    started hangs; the workers run one thread each."""
    out = subprocess.run([sys.executable, "-c", FORK_AFTER_OPENMP], capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[0.0, 1.0]"
