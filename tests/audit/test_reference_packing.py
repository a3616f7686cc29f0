"""Packed arrays of reference models (`placement.packing`): how many models a task trains,
the same outputs packed, unpacked and in one process, and a pack that dies mid-way leaves
its finished models for the rerun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.core.data import prepare as build
from dii_hpc.audit.job import AuditJob, of
from dii_hpc.audit.placement import packing
from dii_hpc.audit.privacy.reference import attacks as ra
from dii_hpc.audit.privacy.reference import training
from dii_hpc.errors import SchedulerError

DATA = "dii_hpc.examples.tabular:breast_cancer_data"
SKLEARN = {"factory": "dii_hpc.examples.tabular:breast_cancer_sklearn", "params": {"C": 1.0}}


def test_a_task_runs_enough_shards_to_amortise_its_start_but_leaves_no_core_idle() -> None:
    assert packing.per_task(16, 0.4, 3.0, 2) == 8  # start 3 s >> 0.4 s: one task per core
    assert packing.per_task(16, 0.4, 3.0, 16) == 1  # as many cores as shards: no packing
    assert packing.per_task(16, 0.4, 3.0, 4) == 4
    assert packing.per_task(16, 60.0, 3.0, 2) == 1  # long shards: the start is nothing
    # 0.5 s start <= 10% of every task: 16 as 6 + 5 + 5 (7 was 4 tasks, spread 4 x 4: 12.5%)
    assert packing.per_task(16, 1.0, 0.5, 1) == 6
    assert packing.per_task(16, None, 3.0, 2) == 1  # no time known: one per task
    assert packing.pack(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert packing.pack(list(range(4)), 1) == [[0], [1], [2], [3]]
    assert packing.pack([], 3) == []


def test_packing_adds_no_round_for_a_remainder_and_keeps_every_task_amortised() -> None:
    """15 models of 4.81 s, 2 slots, a 3 s start (seen in bench_privacy_reference at 3,000
    epochs): 2 tasks in one round, not 3 tasks of 7 whose third ran alone in a second
    round paying the start again (estimated 73.3 s: it lost to one after another here)."""
    import math

    assert packing.per_task(15, 4.81, 3.0, 2) == 8
    c = packing.choose(15, 4.81, 3.0, 2, "slurm")
    assert (c.how, c.tasks, c.per_task) == ("array", 2, 8)
    assert c.estimate_s == pytest.approx(3.0 + 8 * 4.81)
    for n in range(2, 70):
        for slots in (1, 2, 3, 8):
            for shard in (0.05, 0.5, 1.0, 4.81, 30.0):
                wanted = math.ceil(3.0 / (packing.START_SHARE * shard))
                width = min(slots, n)
                tasks = packing.pack(list(range(n)), packing.per_task(n, shard, 3.0, slots))
                assert sorted(i for t in tasks for i in t) == list(range(n))
                # the start is <= 10% of every task wherever the shards allow it
                assert min(len(t) for t in tasks) >= min(wanted, n // width), (n, slots, shard)
                # and no round more than tasks of `wanted` shards need
                rounds = math.ceil(len(tasks) / width)
                assert rounds <= max(1, n // (width * wanted)), (n, slots, shard)


def test_the_start_cost_is_kept_per_executor_in_the_store(tmp_path: Path) -> None:
    assert packing.start_cost(tmp_path, "local") == (packing.DEFAULT_START_S, False)
    packing.record_start(tmp_path, "local", 2.5)
    packing.record_start(tmp_path, "slurm", 9.0)
    assert packing.start_cost(tmp_path, "local") == (2.5, True)
    assert packing.start_cost(tmp_path, "slurm") == (9.0, True)
    assert packing.measured_start(100.0, [{"ready": 103.0}, {"ready": 102.0}, "x"]) == 2.0


def _job(model: dict[str, Any], n: int) -> AuditJob:
    return of({"model": model, "data": DATA, "seed": 0, "n_samples": 100,
               "experiment": "packing"}, "II", "lira", {"n_reference": n})


def _outputs(job: AuditJob, n: int) -> np.ndarray:
    return ra.request_plan({"set": "halves", "n_reference": n}, job, build(job)).outputs()


def _use(monkeypatch: pytest.MonkeyPatch, store: Path) -> Path:
    """The store, and fresh task processes for "processes" (these models take milliseconds:
    by their times `packing.choose` would train them here or in forked workers)."""
    monkeypatch.setenv("DII_HPC_STORE", str(store))
    monkeypatch.setenv("DII_HPC_PLACEMENT", "array")
    return store


@pytest.mark.slow
def test_packed_unpacked_and_in_process_models_are_identical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 5
    _use(monkeypatch, tmp_path / "inline")
    inline, _ = training.prepare(_job(SKLEARN, n))
    assert inline is not None and inline["trained"] == n
    expected = _outputs(_job(SKLEARN, n), n)

    _use(monkeypatch, tmp_path / "packed")
    packed, _ = training.prepare(_job(SKLEARN, n), executor="processes")
    assert packed is not None and packed["trained"] == n and packed["trained_here"] == 1
    plan = packed["packing"]
    assert plan["shard_s"] > 0 and plan["start_measured"] is False  # measured here, default start
    assert plan["per_task"] > 1 and plan["tasks"] < n - 1  # short models: several per task
    assert plan["start_now_s"] > 0  # this array's start cost, kept for the next one
    assert packing.start_cost(tmp_path / "packed", "local") == (
        pytest.approx(plan["start_now_s"], abs=1e-3), True)
    assert np.array_equal(_outputs(_job(SKLEARN, n), n), expected)

    store = _use(monkeypatch, tmp_path / "unpacked")
    packing.record_start(store, "local", 0.0)  # a free start: one model per task
    unpacked, _ = training.prepare(_job(SKLEARN, n), executor="processes")
    assert unpacked is not None and unpacked["packing"]["per_task"] == 1
    assert unpacked["packing"]["tasks"] == n - 1
    assert np.array_equal(_outputs(_job(SKLEARN, n), n), expected)


@pytest.mark.slow
def test_a_pack_that_dies_midway_leaves_its_finished_models(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    marker = tmp_path / "die"
    marker.touch()
    model = {"factory": "tests.audit.packing_models:dies_in_tasks",
             "params": {"marker": str(marker)}}
    n = 7
    _use(monkeypatch, tmp_path / "inline")
    training.prepare(_job(model, n))
    expected = _outputs(_job(model, n), n)

    _use(monkeypatch, tmp_path / "packed")
    with pytest.raises(SchedulerError, match="task died mid-pack"):
        training.prepare(_job(model, n), executor="processes")
    plan = ra.request_plan({"set": "halves", "n_reference": n}, _job(model, n),
                           build(_job(model, n)))
    kept = n - len(plan.missing())
    assert 2 <= kept < n  # the one measured here, and the first model of a pack that died
    marker.unlink()
    again, _ = training.prepare(_job(model, n), executor="processes")
    assert again is not None and (again["trained"], again["reused"]) == (n - kept, kept)
    assert np.array_equal(_outputs(_job(model, n), n), expected)


def _slurm_job(n: int, **resources: Any) -> AuditJob:
    return of({"model": SKLEARN, "data": DATA, "seed": 0, "n_samples": 100,
               "experiment": "packing", "resources": {"time": "10", **resources}},
              "II", "lira", {"n_reference": n})


@pytest.mark.slurm
@pytest.mark.multinode
@pytest.mark.sharedfs
@pytest.mark.slow
def test_a_packed_slurm_array_trains_the_same_models(
        cluster_nodes: list[str], shared_store: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On the 3-node test bed, the store on GlusterFS: two cores' worth of tasks
    (`array_parallelism: 2`), each a pack of models, the same outputs as one process:
    one-CPU tasks (the config sets `cpus_per_task: 1`), else one task holding two CPUs
    that forks a worker per CPU (one start paid)."""
    import json

    for n, cpus, shape in ((7, {"cpus_per_task": 1}, (2, 3, 1, 2)), (5, {}, (1, 4, 2, 2))):
        _use(monkeypatch, tmp_path / f"inline-{n}")
        training.prepare(_job(SKLEARN, n))
        expected = _outputs(_job(SKLEARN, n), n)

        _use(monkeypatch, shared_store)
        # the same start for one-CPU and two-CPU tasks: the tie goes to fewer tasks
        one_cpu = packing.start_cost(shared_store, "slurm")[0]
        packing.record_start(shared_store, "slurm-held", one_cpu)
        job = _slurm_job(n, array_parallelism=2, **cpus)
        out, _ = training.prepare(job, executor="slurm")
        assert out is not None and out["trained"] == n and out["job_id"]
        pk = out["packing"]
        assert (pk["tasks"], pk["per_task"], pk["cpus"], pk["workers"]) == shape
        assert packing.start_cost(shared_store, "slurm")[1]  # measured, kept for the next
        plan = ra.request_plan({"set": "halves", "n_reference": n}, job, build(job))
        jobs = {json.loads((plan.folder(i) / "model.json").read_text())["job"]
                for i in range(n)}
        assert len(jobs - {None}) == shape[0]  # the models of each task, one measured here
        assert np.array_equal(plan.outputs(), expected)
