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


def test_show_prints_objectives_with_the_digits_that_tell_trials_apart(store_path: Path) -> None:
    """Issue 26: objectives were rounded to 4 significant digits (0.91241 and 0.91238 both
    read 0.9124); the trial table and the best line show as many as tell them apart."""
    import optuna

    import dii_hpc
    from dii_hpc.launch.optimize import samplers
    from dii_hpc.launch.optimize import study as studymod

    store = Store(store_path)
    with dii_hpc.start_run("close", store=store):
        pass  # the experiment exists
    spec = {**studymod.spec_of(from_dict(RAW).config.sweep.optimize), "n_trials": 3}
    studymod.write_spec(store, "close", spec)
    study = studymod.open_study(store, "close", spec, create=True)
    dists = samplers.distributions(spec["space"])
    for value, lr in ((0.91241, 0.001), (0.91238, 0.002), (0.5, 0.003)):
        study.add_trial(optuna.trial.create_trial(params={"lr": lr, "width": 8},
                                                  distributions=dists, value=value))
    proc = run_cli("sweep", "show", "close")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].startswith("best: trial 0 ") and " val_score = 0.91241: " in lines[1]
    rows = {ln.split()[0]: ln.split() for ln in lines if " COMPLETE " in ln}
    assert rows["0"][2:4] == ["0.91241", "0.91241"] and rows["1"][2:4] == ["0.91238", "0.91241"]
    assert rows["2"][2:4] == ["0.5", "0.91241"]


def test_dry_run_says_what_each_worker_will_do(store_path: Path, tmp_path: Path) -> None:
    """Issue 26: `submit --dry-run` of an adaptive sweep printed the base params as tasks."""
    cfg = tmp_path / "opt.yaml"
    cfg.write_text(json.dumps({**RAW, "sweep": {"optimize": {**RAW["sweep"]["optimize"],
                                                             "parallel": 2}}}))
    proc = run_cli("submit", str(cfg), "--dry-run", "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "# executor: local; 2 worker(s) for the study of opt; nothing submitted"
    start = out.index("study of opt: maximize val_score (each trial's last value) over 6 trials; "
                      "a new study; 6 to run, 2 at a time")
    seeds = [out[-2].split()[1], out[-1].split()[1]]
    assert [" ".join(ln.split()) for ln in out[start + 1:]] == [
        "sampler random, seed 3; pruner none", "space:", "lr log_uniform 0.0001 .. 0.1",
        "width int 4 .. 32",
        "each worker, until no trial is left: asks the study for a trial, trains model m as a "
        "sweep task with the trial's values (one run per trial; the other params: dropout=0, "
        "epochs=3), then tells the study its val_score",
        "worker sampler seed", f"0 {seeds[0]}", f"1 {seeds[1]}"]
    assert seeds[0] != seeds[1]  # each worker draws its own points
    assert not store_path.exists()  # nothing submitted, nothing written


def test_dry_run_of_a_study_under_way_counts_its_trials(study: Store, tmp_path: Path) -> None:
    cfg = tmp_path / "opt.yaml"
    cfg.write_text(json.dumps(RAW))
    more = run_cli("submit", str(cfg), "--dry-run", "--set", "sweep.optimize.n_trials=9",
                   "--set", "sweep.optimize.parallel=4")
    assert more.returncode == 0, more.stderr
    assert more.stdout.splitlines()[0].startswith("# executor: ") and \
        "3 worker(s) for the study of opt" in more.stdout
    assert ("over 9 trials; the study has 6 of them done, 0 running; 3 to run, 3 at a time"
            in more.stdout)
    full = run_cli("submit", str(cfg), "--dry-run")  # as submit itself refuses it
    assert full.returncode == 2 and full.stderr.strip() == (
        "dii-hpc: error: sweep.optimize.n_trials: the study of opt has its 6 trials; raise "
        "n_trials to run more")
