"""The study in the store: budget, recovery of lost trials (once), settling, the claim lock
under concurrent workers (a local folder and the GlusterFS mount)."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.launch.optimize import samplers
from dii_hpc.launch.optimize import study as studymod
from dii_hpc.store.store import Store

SPEC: dict[str, Any] = {"metric": "acc", "direction": "maximize", "n_trials": 6, "parallel": 2,
                        "sampler": "random", "pruner": "none", "seed": 0,
                        "space": {"x": {"uniform": [0.0, 1.0]}, "k": {"choice": ["a", "b"]}}}


def _study(store: Store, spec: dict[str, Any] = SPEC) -> Any:
    studymod.write_spec(store, "e", spec)
    return studymod.open_study(store, "e", spec, create=True)


def _ask(study: Any, store: Store, status: str, worker: str = "sub/0", **record: Any) -> Any:
    """A trial with a run in ``status`` (a RUNNING one written by ``record``'s host/pid)."""
    trial = study.ask(samplers.distributions(SPEC["space"]))
    rid = store.create_run("e", params=dict(trial.params), status=status)
    if record:
        store.update_run(rid, **record)
    trial.set_user_attr("run_id", rid)
    trial.set_user_attr("worker", worker)
    trial.set_user_attr("token", "host:1")
    return trial


def test_lost_trials_are_failed_and_asked_again_once(store_path: Path) -> None:
    from optuna.trial import TrialState

    store = Store(store_path)
    study = _study(store)
    done = _ask(study, store, "FINISHED")
    study.tell(done, 0.5)
    killed = _ask(study, store, "KILLED")
    dead = _ask(study, store, "RUNNING", host=os.uname().nodename, pid=2**22 + 7,
                heartbeat=time.time())
    alive = _ask(study, store, "RUNNING", host=os.uname().nodename, pid=os.getpid(),
                 heartbeat=time.time())
    assert sorted(studymod.recover(study, store)) == [killed.number, dead.number]
    assert studymod.recover(study, store) == []  # a second pass changes nothing
    trials = {t.number: t for t in study.get_trials()}
    assert trials[killed.number].state == TrialState.FAIL
    assert "ended KILLED" in trials[killed.number].user_attrs["lost"]
    assert "writer process" in trials[dead.number].user_attrs["lost"]
    assert trials[alive.number].state == TrialState.RUNNING
    assert store.run(dead.user_attrs["run_id"])["status"] == "FAILED"  # ended like `status` would
    waiting = [t for t in trials.values() if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs["retry_of"] for t in waiting) == [killed.number, dead.number]
    counts = studymod.tally(study.get_trials())
    assert (counts.complete, counts.lost, counts.running, counts.waiting) == (1, 2, 1, 2)
    assert counts.remaining(6) == 4  # 6 - 1 done - 1 running; the 2 retries come first
    retry = study.ask(samplers.distributions(SPEC["space"]))
    assert retry.params == killed.params and retry.user_attrs["retry_of"] == killed.number


def test_restarted_worker_recovers_its_own_trial_at_once(store_path: Path) -> None:
    store = Store(store_path)
    study = _study(store)
    mine = _ask(study, store, "RUNNING", worker="sub/1", host="elsewhere", pid=1,
                heartbeat=time.time())
    assert studymod.recover(study, store, {"worker": "sub/0", "token": "h:2"}) == []
    assert studymod.recover(study, store, {"worker": "sub/1", "token": "h:2"}) == [mine.number]


def test_a_run_that_ended_well_settles_its_trial(store_path: Path) -> None:
    """The worker died between ending the run and telling the trial: nothing is re-run."""
    from optuna.trial import TrialState

    store = Store(store_path)
    study = _study(store)
    finished = _ask(study, store, "FINISHED")
    store.update_run(finished.user_attrs["run_id"],
                     trial={"number": finished.number, "metric": "acc",
                            "direction": "maximize", "worker": "sub/0"},
                     metrics={"acc": {"last": 0.75}})
    pruned = _ask(study, store, "PRUNED")
    assert studymod.recover(study, store) == []
    trials = {t.number: t for t in study.get_trials()}
    assert trials[finished.number].value == 0.75
    assert trials[pruned.number].state == TrialState.PRUNED
    assert studymod.tally(study.get_trials()).done == 2


def _claimer(root: str, tells: int, out: Any) -> None:
    store = Store(root)
    study = studymod.open_study(store, "e", SPEC, seed=os.getpid())
    dists = samplers.distributions(SPEC["space"])
    mine = []
    while True:
        with studymod.claim_lock(study):
            if studymod.tally(study.get_trials(deepcopy=False)).remaining(tells) <= 0:
                break
            trial = study.ask(dists)
        study.tell(trial, trial.params["x"])
        mine.append(trial.number)
    out.put(mine)


def _concurrent_claims(root: Path) -> None:
    store = Store(root)
    _study(store, {**SPEC, "n_trials": 24})
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(str(root), 24, out)) for _ in range(4)]
    for p in procs:
        p.start()
    got = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    numbers = sorted(n for mine in got for n in mine)
    assert numbers == list(range(24))  # exactly n_trials, none twice, none overshooting
    assert studymod.tally(studymod.open_study(store, "e", SPEC).get_trials()).complete == 24


def test_claim_lock_keeps_n_trials_exact_across_processes(store_path: Path) -> None:
    _concurrent_claims(store_path)


@pytest.mark.sharedfs
def test_claim_lock_keeps_n_trials_exact_on_glusterfs(shared_store: Path) -> None:
    """JournalFileOpenLock (O_EXCL) on the GlusterFS mount: the journal and the claim hold."""
    _concurrent_claims(shared_store)


def test_a_spec_rewritten_is_read_anew(store_path: Path) -> None:
    """read_spec keeps what it read while the file's stat stays: a raised n_trials (a later
    submission's write_spec) is seen by the next read, and a caller's change is its own."""
    store = Store(store_path)
    studymod.write_spec(store, "e", {**SPEC, "n_trials": 4})
    first = studymod.read_spec(store, "e")
    assert first is not None and first["n_trials"] == 4
    first["n_trials"] = 99
    assert studymod.read_spec(store, "e")["n_trials"] == 4  # type: ignore[index]
    studymod.write_spec(store, "e", {**SPEC, "n_trials": 6})
    assert studymod.read_spec(store, "e")["n_trials"] == 6  # type: ignore[index]
