"""Sweep expansion: grid, zip, random (reproducible), seeds; unknown keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.config import apply_point, check_keys, expand, load_config
from dii_hpc.config.schema import Sweep
from dii_hpc.errors import ConfigError

RAW = {"experiment": "t", "models": {"m": {"class": "a:B", "params": {"width": 4}}},
       "params": {"lr": 0.1, "bs": 8}}


def test_grid_and_seeds() -> None:
    sweep = Sweep(grid={"lr": [1, 2], "models.m.params.width": [16, 32]}, seeds=[0, 1])
    points = expand(sweep)
    assert len(points) == 8
    assert points[0].values == {"lr": 1, "models.m.params.width": 16} and points[0].seed == 0
    assert points[1].seed == 1 and points[-1].values == {"lr": 2, "models.m.params.width": 32}
    task = apply_point(RAW, points[-1])
    assert task["params"] == {"lr": 2, "bs": 8, "seed": 1}
    assert task["models"]["m"]["params"]["width"] == 32 and "sweep" not in task
    assert RAW["params"]["lr"] == 0.1  # pure: the input is untouched


def test_zip_and_grid_combine() -> None:
    points = expand(Sweep(zip={"lr": [1, 2, 3], "bs": [4, 5, 6]}, grid={"models.m.params.width": [1, 2]}))
    assert len(points) == 6
    assert {(p.values["lr"], p.values["bs"]) for p in points} == {(1, 4), (2, 5), (3, 6)}
    with pytest.raises(ValueError, match="differ in length"):
        Sweep(zip={"lr": [1, 2], "bs": [1]})


def test_random_is_reproducible_and_in_range() -> None:
    spec = {"n": 20, "seed": 3, "params": {"lr": {"loguniform": [1e-4, 1e-2]},
                                            "bs": {"choice": [8, 16]},
                                            "models.m.params.width": {"randint": [2, 5]}}}
    a, b = expand(Sweep(random=spec)), expand(Sweep(random=spec))
    assert [p.values for p in a] == [p.values for p in b] and len(a) == 20
    assert all(1e-4 <= p.values["lr"] <= 1e-2 and p.values["bs"] in (8, 16) for p in a)
    assert all(2 <= p.values["models.m.params.width"] <= 5 for p in a)
    other = expand(Sweep(random={**spec, "seed": 4}))
    assert [p.values for p in other] != [p.values for p in a]
    with pytest.raises(ValueError, match="exactly one"):
        Sweep(random={"n": 1, "params": {"lr": {"uniform": [0, 1], "normal": [0, 1]}}})


def test_no_sweep_is_one_point() -> None:
    assert expand(Sweep()) == [expand(Sweep())[0]] and expand(Sweep())[0].seed is None


def test_unknown_sweep_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("experiment: t\nmodels: {m: {class: 'a:B', params: {width: 4}}}\n"
                    "params: {lr: 0.1}\nsweep:\n  grid:\n    lr: [1]\n    models.m.params.widht: [1]\n")
    loaded = load_config(path)
    with pytest.raises(ConfigError) as err:
        check_keys(loaded.raw, loaded.config.sweep, str(path), loaded.lines)
    assert str(err.value) == (f"{path}:7: sweep.grid.models.m.params.widht: "
                              "models.m.params.widht does not exist in the config")
    with pytest.raises(ConfigError, match=r"sweep.grid.momentum: params.momentum does not exist"):
        check_keys(RAW, Sweep(grid={"momentum": [1]}))
