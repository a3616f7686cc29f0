"""Every sampler and pruner a config may name is one record that builds what it names."""

from __future__ import annotations

import typing

import pytest

from dii_hpc.config.schema import Optimize
from dii_hpc.errors import BadInput
from dii_hpc.launch.optimize import samplers

SPACE = {"lr": {"log_uniform": [1e-4, 1e-1]}, "width": {"int": [8, 16]}}


def _names(field: str) -> set[str]:
    return set(typing.get_args(Optimize.model_fields[field].annotation))


def test_each_name_the_schema_accepts_has_one_record() -> None:
    assert set(samplers.SAMPLERS) == _names("sampler")
    assert set(samplers.PRUNERS) == _names("pruner")


@pytest.mark.parametrize("name, cls", [("tpe", "TPESampler"), ("random", "RandomSampler"),
                                       ("grid", "GridSampler")])
def test_a_sampler_record_builds_the_optuna_sampler_it_names(name: str, cls: str) -> None:
    spec = {"sampler": name, "space": {"width": {"int": [8, 10]}}, "n_trials": 20}
    assert type(samplers.make_sampler(spec, 3)).__name__ == cls
    assert samplers.describe_sampler(spec).startswith(name)


def test_tpe_is_described_with_the_settings_it_runs_with() -> None:
    assert samplers.describe_sampler({"sampler": "tpe", "n_trials": 20}) == (
        "tpe (multivariate, constant liar, 5 random trials first)")


@pytest.mark.parametrize("name, cls", [("none", "NopPruner"), ("median", "MedianPruner"),
                                       ("asha", "SuccessiveHalvingPruner"),
                                       ("hyperband", "HyperbandPruner")])
def test_a_pruner_record_builds_the_optuna_pruner_it_names(name: str, cls: str) -> None:
    assert type(samplers.make_pruner({"pruner": name})).__name__ == cls


def test_an_unknown_name_is_bad_input_naming_the_known_ones() -> None:
    with pytest.raises(BadInput, match="'annealing' is not one of tpe, random, grid, cmaes"):
        samplers.make_sampler({"sampler": "annealing", "space": SPACE}, 0)
    with pytest.raises(BadInput, match="'always' is not one of none"):
        samplers.make_pruner({"pruner": "always"})
