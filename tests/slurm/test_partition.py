"""A request that cannot fit the partition is refused in one line naming both numbers."""

from __future__ import annotations

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.slurm.gres import parse
from dii_hpc.slurm.partition import check, gres_types, parse_sinfo

SINFO = """node1|debug*|gpu:2
node2|debug*|gpu:2
node3|debug*|gpu:2
big1|big|gpu:a100:4(S:0-1)
big2|big|gpu:a100:2(S:0)
cpu1|cpu|(null)
"""
TYPES = gres_types({"GresTypes": "gpu"})


def _check(**kw: object) -> None:
    args = {"partition": None, "nodes": 1, "gpus_per_node": 0, "gres": None, **kw}
    check(parse_sinfo(SINFO), TYPES, **args)  # type: ignore[arg-type]


def test_parse_sinfo_flags_the_default() -> None:
    parts = parse_sinfo(SINFO)
    assert parts["debug"].default and not parts["big"].default
    assert sorted(parts["debug"].nodes) == ["node1", "node2", "node3"]
    assert gres_types({"GresTypes": "(null)"}) == [] and gres_types(None) == []


def test_requests_that_fit() -> None:
    _check(nodes=3, gpus_per_node=2)
    _check(partition="big", nodes=2, gpus_per_node=2, gres=parse("gpu:a100:2"))
    _check(partition="cpu", nodes=1)


def test_more_nodes_than_the_partition_names_both_numbers() -> None:
    with pytest.raises(BadInput, match=r"^nodes: 4 asked, but partition 'debug' has 3 node\(s\)$"):
        _check(nodes=4)


def test_more_gpus_than_a_node_has() -> None:
    with pytest.raises(BadInput, match=r"gpus: 3 GPU\(s\) per node asked.* at most 2"):
        _check(gpus_per_node=3)
    with pytest.raises(BadInput, match=r"2 node\(s\) with 4 a100 GPU\(s\) asked.* 1 such node"):
        _check(partition="big", nodes=2, gpus_per_node=4, gres=parse("gpu:a100:4"))
    with pytest.raises(BadInput, match="at most 0"):
        _check(partition="cpu", gpus_per_node=1, gpu_key="gpus_per_task")


def test_unknown_gres_name_and_type() -> None:
    with pytest.raises(BadInput, match=r"unknown gres 'tpu' \(the cluster's GresTypes: gpu\)"):
        _check(gres=parse("tpu:1"))
    with pytest.raises(BadInput, match=r"unknown gpu type 'h100'.*offer: a100"):
        _check(partition="big", gres=parse("gpu:h100:1"))
    with pytest.raises(BadInput, match="unknown partition 'gpux'"):
        _check(partition="gpux")
