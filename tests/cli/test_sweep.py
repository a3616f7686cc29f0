"""`dii-hpc sweep show`: the study as a table and as JSON; one line for a non-study."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dii_hpc.config import from_dict
from dii_hpc.launch import submit as sub
from dii_hpc.store.store import Store
from tests.conftest import run_cli

RAW = {"experiment": "opt", "models": {"m": {"class": "tests.launch.fixtures.optimum:Bowl"}},
       "params": {"lr": 0.01, "dropout": 0.0, "width": 8, "epochs": 3},
       "resources": {"sys_metrics_s": 0},
       "sweep": {"optimize": {"metric": "val_score", "direction": "maximize", "n_trials": 6,
                              "sampler": "random", "seed": 3,
                              "space": {"lr": {"log_uniform": [1e-4, 1e-1]},
                                        "width": {"int": [4, 32]}}}}}


@pytest.fixture()
def study(store_path: Path) -> Store:
    store = Store(store_path)
    res = sub.submit(from_dict(RAW), store, "debug")
    sub.run_debug_jobs(res.submission_id)
    return store


def test_show_prints_trials_best_and_importances(study: Store) -> None:
    proc = run_cli("sweep", "show", "opt")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("study of opt: maximize val_score, sampler random, pruner none; 6 of 6 "
                        "trials done (6 complete, 0 pruned, 0 failed), 0 running, 0 lost and "
                        "asked again")
    assert lines[1].startswith("best: trial ")
    assert lines[2].split() == ["trial", "state", "val_score", "best", "so", "far", "lr",
                                "width", "run", "run", "id", "note"]
    assert len([ln for ln in lines if " COMPLETE " in ln]) == 6
    assert lines[-1].startswith("param importances (Optuna, fANOVA): ")


def test_show_json_matches_the_runs(study: Store) -> None:
    proc = run_cli("sweep", "show", "opt", "--format", "json", "--sort", "value")
    out = json.loads(proc.stdout)
    values = [t["value"] for t in out["trials"]]
    assert out["best"]["value"] == max(values) and out["counts"]["done"] == 6
    history = [t["best_so_far"] for t in out["trials"]]
    assert history == [max(values[: i + 1]) for i in range(6)]  # running best, trial order
    for t in out["trials"]:
        run = study.run(t["run_id"])
        assert run["status"] == t["run_status"] == "FINISHED"
        assert run["metrics"]["val_score"]["last"] == t["value"]


def test_show_refuses_an_experiment_without_study(store_path: Path) -> None:
    import dii_hpc

    with dii_hpc.start_run("plain", store=Store(store_path)) as run:
        run.log_metric("acc", 1.0)
    proc = run_cli("sweep", "show", "plain")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("dii-hpc: error: experiment plain has no study: it was not "
                                   "submitted with sweep.optimize")
