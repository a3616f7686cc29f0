"""sweep.optimize: the search space parses into Optuna's terms; bad input is one line, exit 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.config import from_dict
from dii_hpc.errors import ConfigError
from tests.conftest import run_cli

FIX = "tests.launch.fixtures.optimum"
BASE: dict[str, Any] = {
    "experiment": "opt", "models": {"bowl": {"class": f"{FIX}:Bowl", "params": {"epoch_s": 0.0}}},
    "params": {"lr": 0.01, "dropout": 0.0, "width": 8, "epochs": 3},
}
SPACE = {"lr": {"log_uniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0, 0.5]},
         "width": {"int": [8, 32]}, "models.bowl.params.epoch_s": {"choice": [0.0, 0.01]}}


def _raw(**optimize: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw["sweep"] = {"optimize": {"metric": "val_score", "direction": "maximize", "n_trials": 8,
                                 "parallel": 2, "space": SPACE, **optimize}}
    return raw


def test_space_parses_each_distribution() -> None:
    from dii_hpc.launch.optimize import samplers, study

    opt = from_dict(_raw()).config.sweep.optimize
    assert {k: e.kind for k, e in opt.space.items()} == {
        "lr": ("log_uniform", (1e-4, 1e-1)), "dropout": ("uniform", (0.0, 0.5)),
        "width": ("int", (8, 32)), "models.bowl.params.epoch_s": ("choice", [0.0, 0.01])}
    assert (opt.sampler, opt.pruner, opt.seed) == ("tpe", "none", 0)
    spec = study.spec_of(opt)
    assert spec["space"]["lr"] == {"log_uniform": [1e-4, 1e-1]}  # as study.json holds it
    dists = samplers.distributions(spec["space"])
    assert dists["lr"].log and (dists["lr"].low, dists["lr"].high) == (1e-4, 1e-1)
    assert not dists["dropout"].log and (dists["width"].low, dists["width"].high) == (8, 32)
    assert dists["models.bowl.params.epoch_s"].choices == (0.0, 0.01)


@pytest.mark.parametrize(("change", "message"), [
    ({"space": {"lr": {"normal": [0, 1]}}},
     "sweep.optimize.space.lr: unknown distribution 'normal' (give one of log_uniform, "
     "uniform, int, choice)"),
    ({"space": {"lr": {"uniform": [0.5, 0.1]}}},
     "sweep.optimize.space.lr: uniform bounds [0.5, 0.1] are the wrong way round"),
    ({"space": {"width": {"int": [32, 8]}}}, "int bounds [32, 8] are the wrong way round"),
    ({"space": {"lr": {"log_uniform": [0, 0.1]}}}, "log_uniform bounds must be > 0"),
    ({"space": {"lr": {"uniform": [0, 1], "choice": [1]}}}, "give exactly one"),
    ({"space": {"lr": {"choice": [[1, 2]]}}},  # pydantic fills {name} only: no !r
     "choice values must be numbers, strings, booleans or null; got [1, 2]"),
    ({"parallel": 9}, "sweep.optimize: parallel: 9 is above n_trials: 8"),
    ({"sampler": "grid"}, "sampler grid walks choice and int entries only; space.lr is log_uniform"),
    ({"sampler": "bayes"}, "sweep.optimize.sampler"),
    ({"pruner": "asha", "direction": "up"}, "sweep.optimize.direction"),
])
def test_bad_optimize_is_one_line_naming_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(_raw(**change))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_grid_size_bounds_n_trials() -> None:
    space = {"width": {"int": [8, 9]}, "lr": {"choice": [0.1, 0.01]}}
    assert from_dict(_raw(sampler="grid", space=space, n_trials=4)).config.sweep.optimize
    with pytest.raises(ConfigError, match="n_trials: 5 is above the 4 points of the grid"):
        from_dict(_raw(sampler="grid", space=space, n_trials=5))


def test_optimize_stands_alone() -> None:
    raw = _raw()
    raw["sweep"]["grid"] = {"lr": [0.1]}
    with pytest.raises(ConfigError, match="optimize cannot be combined with grid"):
        from_dict(raw)


def test_submit_refuses_in_one_line_exit_2(tmp_path: Path, store_path: Path) -> None:
    """Bad input at submit: a space key missing from the config, parallel above n_trials."""
    cfg = tmp_path / "c.yaml"
    raw = _raw(space={**SPACE, "momentum": {"uniform": [0, 1]}})
    cfg.write_text(json.dumps(raw))
    proc = run_cli("submit", str(cfg), "--executor", "local")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"dii-hpc: error: {cfg}:1: sweep.optimize.space.momentum: params.momentum does not "
        "exist in the config"]
    cfg.write_text(json.dumps(_raw(parallel=12)))
    proc = run_cli("submit", str(cfg), "--executor", "local")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "parallel: 12 is above n_trials: 8" in proc.stderr
    assert not store_path.exists() or not list(store_path.rglob("run.json"))


def test_shipped_optimize_config_plans_its_workers(store_path: Path) -> None:
    from dii_hpc.config import load_config
    from dii_hpc.launch.submit import submit
    from dii_hpc.store.store import Store

    loaded = load_config(Path(__file__).resolve().parents[2] / "configs" / "optimize.yaml")
    res = submit(loaded, Store(store_path), "local", dry_run=True)
    assert [row["worker"] for row in res.rows] == [0, 1, 2, 3]
    assert res.rows[0]["run_params"]["model"] == "cnn"
