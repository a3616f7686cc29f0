"""A `sweep:` stage whose config is an adaptive sweep (issue 26): its runs are its study's
trials (made by the workers after the stage was submitted), its state comes from them, and
`select` picks the best trial; locally and on Slurm."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.launch.optimize import study as studymod
from dii_hpc.pipeline import submit
from dii_hpc.store.store import Store
from tests.conftest import run_cli
from tests.pipeline.conftest import sweep_config

REPO = Path(__file__).resolve().parents[2]


def _study_pipeline(write: Callable[..., Path], model: str = "Scored") -> Path:
    cfg = {**sweep_config(model), "experiment": "pl-study",
           "sweep": {"optimize": {"metric": "val_acc", "direction": "maximize", "n_trials": 4,
                                  "parallel": 2, "sampler": "random",
                                  "space": {"lr": {"uniform": [0.1, 0.9]}}}}}
    return write("p.yaml", {"pipeline": "pl-opt", "stages": {
        "tune": {"sweep": str(write("opt.yaml", cfg))},
        "best": {"select": {"from": "tune", "metric": "val_acc"}}}})


def _trials(store: Store) -> list[Any]:
    study = studymod.open_study(store, "pl-study", studymod.read_spec(store, "pl-study"))
    return sorted(study.get_trials(), key=lambda t: t.number)


def _check_best_of_the_study(store: Store, tune: dict[str, Any], best: dict[str, Any]) -> None:
    trials = _trials(store)
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    runs = [t.user_attrs["run_id"] for t in trials]
    assert tune["runs"] == runs and tune["outputs"]["runs"] == runs  # in trial order
    top = max(trials, key=lambda t: t.value)
    assert best["run_id"] == top.user_attrs["run_id"]
    assert best["value"] == pytest.approx(top.value)


def test_select_picks_the_best_trial_of_a_study_stage(write: Callable[..., Path],
                                                      store_path: Path) -> None:
    store = Store(store_path)
    res = submit.submit(_study_pipeline(write), store, "local")
    assert {n: r.state for n, r in res.stages.items()} == {"tune": "FINISHED",
                                                               "best": "FINISHED"}
    _check_best_of_the_study(store, res.stages["tune"].model_dump(),
                             res.stages["best"].outputs or {})


def test_a_study_with_no_completed_trial_fails_its_stage(write: Callable[..., Path],
                                                         store_path: Path) -> None:
    res = submit.submit(_study_pipeline(write, "Boom"), Store(store_path), "local")
    tune, best = res.stages["tune"].model_dump(), res.stages["best"].model_dump()
    assert tune["state"] == "FAILED"
    assert tune["error"] == "no trial of the study of pl-study completed"
    assert best["state"] == "CANCELLED"
    assert best["error"] == "needs tune, which FAILED: no trial of the study of pl-study completed"


@pytest.mark.slurm
@pytest.mark.slow
def test_select_picks_the_best_trial_of_a_study_stage_on_slurm(write: Callable[..., Path],
                                                               store_path: Path) -> None:
    proc = run_cli("pipeline", "submit", str(_study_pipeline(write)), "--executor", "slurm",
                   cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pid = proc.stdout.strip().splitlines()[-1]
    deadline, poll = time.time() + 600, 1.0
    while True:
        shown = run_cli("pipeline", "status", pid, "--format", "json", cwd=REPO)
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        if view["state"] not in ("PENDING", "RUNNING"):
            break
        assert time.time() < deadline, f"pipeline {pid} still {view['state']}: {view['stages']}"
        time.sleep(poll)
        poll = min(poll * 1.5, 10.0)
    assert view["state"] == "FINISHED", view["stages"]
    _check_best_of_the_study(Store(store_path), view["stages"]["tune"],
                             view["stages"]["best"]["outputs"])
