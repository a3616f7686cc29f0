"""Workers of an adaptive sweep on the local executor (processes): every trial is a run with
the trial's params, pruned trials end PRUNED, a worker killed mid-trial loses nothing and
counts nothing twice, `resubmit` restarts missing workers, a metric never logged stops the
study in one line."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.config import from_dict
from dii_hpc.launch import adaptive, studyview
from dii_hpc.launch import study as studymod
from dii_hpc.launch import submit as sub
from dii_hpc.store.store import Store
from tests.conftest import run_cli

FIX = "tests.launch.fixtures.optimum"
SPACE = {"lr": {"log_uniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0, 0.6]},
         "width": {"int": [4, 64]}}


def _raw(epoch_s: float = 0.0, model: str = "Bowl", **optimize: Any) -> dict[str, Any]:
    return {"experiment": "opt",
            "models": {"m": {"class": f"{FIX}:{model}", "params": {"epoch_s": epoch_s}
                             if model == "Bowl" else {}}},
            "params": {"lr": 0.01, "dropout": 0.0, "width": 8, "epochs": 4},
            "resources": {"sys_metrics_s": 0},
            "sweep": {"optimize": {"metric": "val_score", "direction": "maximize",
                                   "n_trials": 6, "parallel": 2, "space": SPACE,
                                   **optimize}}}


def _wait_local(sid: str) -> list[Any]:
    """Each local worker's result (None for one that was killed)."""
    out = []
    for job in sub._CURRENT_JOBS.pop(sid, []):
        out.append(None)
        with contextlib.suppress(Exception):  # a killed worker's job "fails": expected here
            out[-1] = job.result()
    return out


def _trial_runs(store: Store) -> list[dict[str, Any]]:
    return [r for r in store.records("opt") if "trial" in r.get("tags", {})]


def test_local_workers_are_processes_and_every_trial_is_a_run(store_path: Path) -> None:
    from optuna.trial import TrialState

    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.05, pruner="asha", n_trials=8)), store, "local")
    assert len(res.job_ids) == 2 and res.run_ids == []
    results = _wait_local(res.submission_id)
    assert sorted(r["worker"] for r in results) == [0, 1]  # two processes ran the loop
    assert sorted(n for r in results for n in r["trials"]) == list(range(8))  # each trial once
    study = studymod.open_study(store, "opt", studymod.read_spec(store, "opt"))
    trials = study.get_trials()
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    runs = {r["run_id"]: r for r in _trial_runs(store)}
    assert sorted(t.user_attrs["run_id"] for t in trials) == sorted(runs)  # one run each
    pids = {r["launch"]["pid"] for r in runs.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # in the worker processes
    assert {r["launch"]["executor"] for r in runs.values()} == {"local"}
    for t in trials:
        run = runs[t.user_attrs["run_id"]]
        assert {k: run["params"][k] for k in SPACE} == t.params  # the trial's params
        assert run["trial"]["number"] == t.number and run["tags"]["trial"] == str(t.number)
        want = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "PRUNED"}[t.state]
        assert run["status"] == want
        if t.state == TrialState.COMPLETE:
            assert run["metrics"]["val_score"]["last"] == t.value == run["trial"]["value"]
        else:
            assert run["error"].startswith("pruned at step") and run["trial"]["state"] == "PRUNED"
    assert any(t.state == TrialState.PRUNED for t in trials)  # ASHA stopped some
    shown = studyview.summary(store, "opt")
    assert shown["counts"]["done"] == 8 and shown["best"]["value"] == max(
        t.value for t in trials if t.value is not None)


def _running_trial(store: Store, timeout: float = 60.0) -> tuple[str, int]:
    """(run id, worker pid) of a trial in progress."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for r in _trial_runs(store):
            if r["status"] == "RUNNING" and r.get("launch", {}).get("pid"):
                return r["run_id"], int(r["launch"]["pid"])
        time.sleep(0.05)
    pytest.fail("no trial started")


def _check_nothing_lost(store: Store, n_trials: int, killed_run: str) -> None:
    from optuna.trial import TrialState

    study = studymod.open_study(store, "opt", studymod.read_spec(store, "opt"))
    trials = study.get_trials()
    counts = studymod.tally(trials)
    assert counts.done == counts.complete == n_trials and counts.lost == 1  # not counted twice
    (lost,) = [t for t in trials if t.state == TrialState.FAIL]
    assert lost.user_attrs["run_id"] == killed_run
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params  # asked again
    assert store.run(killed_run)["status"] == "FAILED"
    runs = {r["run_id"] for r in _trial_runs(store)}
    assert runs == {t.user_attrs["run_id"] for t in trials}  # all trials are runs


def test_worker_killed_mid_trial_loses_no_trial(store_path: Path) -> None:
    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.15, n_trials=6)), store, "local")
    killed_run, worker = _running_trial(store)
    os.kill(worker, signal.SIGKILL)
    _wait_local(res.submission_id)  # the other worker stays, finds the lost trial, re-asks it
    _check_nothing_lost(store, 6, killed_run)


def test_resubmit_restarts_the_missing_worker(store_path: Path) -> None:
    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.15, n_trials=3, parallel=1)), store, "local")
    killed_run, worker = _running_trial(store)
    os.kill(worker, signal.SIGKILL)
    _wait_local(res.submission_id)
    assert adaptive.missing(store, "opt")[1] == [0]
    proc = run_cli("resubmit", "opt", "--failed", "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    assert "restarted 1 worker(s) of the study of opt" in proc.stdout
    _check_nothing_lost(store, 3, killed_run)
    assert adaptive.missing(store, "opt") == (Path(res.plan_file), [])  # nothing left to do
    assert "nothing to resubmit" in run_cli("resubmit", "opt", "--failed").stdout


def test_metric_never_logged_stops_the_study_in_one_line(tmp_path: Path, store_path: Path) -> None:
    cfg = tmp_path / "silent.yaml"
    cfg.write_text(json.dumps(_raw(model="Silent", n_trials=4)))
    proc = run_cli("submit", str(cfg), "--executor", "local")
    line = ("sweep.optimize.metric: 'val_score' was never logged by the train_function "
            "(logged: loss, other)")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"dii-hpc: error: {line}"]
    store = Store(store_path)
    runs = _trial_runs(store)
    assert len(runs) <= 2 and {r["status"] for r in runs} == {"FAILED"}  # one per worker at most
    assert {r["error"] for r in runs} == {line}
    shown = run_cli("sweep", "show", "opt")
    assert shown.returncode == 2 and shown.stderr.strip() == f"dii-hpc: error: {line}"
    assert "trial  state" in shown.stdout


def test_cancel_stops_local_workers_and_resubmit_finishes_the_study(store_path: Path) -> None:
    store = Store(store_path)
    res = sub.submit(from_dict(_raw(epoch_s=0.3, n_trials=4)), store, "local")
    _running_trial(store)
    proc = run_cli("cancel", "opt")
    assert proc.returncode == 0 and "2 local process(es)" in proc.stdout, proc.stdout
    _wait_local(res.submission_id)
    assert adaptive.cancel_targets(store, "opt") == ([], [])  # no worker left
    # the trials that were running end CANCELLED by themselves (#14: cancel is noted first)
    stopped = [r for r in _trial_runs(store) if r["status"] not in ("FINISHED", "PRUNED")]
    assert {r["status"] for r in stopped} == {"CANCELLED"}
    assert stopped and all("cancelled by" in r["error"] for r in stopped)
    proc = run_cli("resubmit", "opt", "--failed", "--executor", "local")
    assert proc.returncode == 0 and "restarted 2 worker(s)" in proc.stdout, proc.stderr
    counts = studymod.tally(studymod.open_study(store, "opt", studymod.read_spec(store, "opt"))
                            .get_trials())
    assert counts.done == counts.complete == 4 and counts.lost == len(stopped)
