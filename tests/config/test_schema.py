"""Resources for multi-node, multi-GPU tasks: typed, checked, one line per mistake."""

from __future__ import annotations

import pytest

from dii_hpc.config import from_dict
from dii_hpc.config.schema import Resources
from dii_hpc.errors import ConfigError
from dii_hpc.slurm.gres import Gres

BASE = {"experiment": "x", "models": {"m": {"class": "tests.launch.fixtures.models:Quadratic"}}}


def _load(resources: dict, **more: object) -> Resources:
    return from_dict({**BASE, "resources": resources, **more}).config.resources


def test_defaults_are_one_process_on_one_node() -> None:
    res = Resources()
    assert (res.nodes, res.tasks_per_node, res.world_size, res.gpus_per_node) == (1, 1, 1, 0)
    assert res.gres is None and res.constraint is None and not res.exclusive


def test_gres_is_parsed_into_type_and_count_and_round_trips() -> None:
    res = _load({"gres": "gpu:a100:2", "nodes": 2, "tasks_per_node": 2})
    assert res.gres == Gres("gpu", "a100", 2) and str(res.gres) == "gpu:a100:2"
    assert res.world_size == 4 and res.gpus_per_node == 2
    assert Resources.model_validate(res.model_dump()) == res  # what plan.json carries


def test_gpus_per_node_from_each_way_of_asking() -> None:
    assert Resources(gpus=4).gpus_per_node == 4
    assert Resources(gpus_per_task=1, tasks_per_node=2).gpus_per_node == 2
    assert Resources(gres="mps:50").gpus_per_node == 0


@pytest.mark.parametrize(("resources", "message"), [
    ({"tasks_per_node": 0}, "resources.tasks_per_node: 0 must be at least 1"),
    ({"tasks_per_node": -3}, "resources.tasks_per_node: -3 must be at least 1"),
    ({"gres": "gpu:"}, "resources.gres: 'gpu:' is not a gres (NAME[:TYPE][:COUNT]"),
    ({"gpus": 1, "gpus_per_task": 1}, "resources: give gpus (per node) or gpus_per_task, not both"),
    ({"nodes": 0}, "resources.nodes:"),
    ({"exclusiv": True}, "resources.exclusiv: unknown key"),
])
def test_bad_resources_are_one_line(resources: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(resources)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "Value error" not in str(err.value)


def test_tracking_all_ranks_and_it_cannot_be_swept() -> None:
    assert from_dict({**BASE, "tracking": {"all_ranks": True}}).config.tracking.all_ranks
    from dii_hpc.launch import plan

    loaded = from_dict({**BASE, "tracking": {"all_ranks": False},
                        "sweep": {"grid": {"tracking.all_ranks": [True, False]}}})
    with pytest.raises(ConfigError, match="tracking cannot be swept"):
        plan.check_sweepable(loaded)
