"""Slurm's hostlist syntax expands as `scontrol show hostnames` does."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dii_hpc.errors import BadInput
from dii_hpc.slurm.nodelist import expand, first


@pytest.mark.parametrize(("text", "hosts"), [
    ("vm", ["vm"]),
    ("node[1-3]", ["node1", "node2", "node3"]),
    ("node[1-2,5],gpu7", ["node1", "node2", "node5", "gpu7"]),
    ("n[08-11]", ["n08", "n09", "n10", "n11"]),
    ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    ("a,b[3],c", ["a", "b3", "c"]),
    ("", []), ("(null)", []),
])
def test_expand(text: str, hosts: list[str]) -> None:
    assert expand(text) == hosts


def test_first_is_the_batch_host() -> None:
    assert first("node[3-4],node1") == "node3"
    assert first("") is None


@pytest.mark.parametrize("bad", ["node[1-3", "node1-3]", "node[a-b]", "node[5-2]"])
def test_malformed_lists_are_one_line_errors(bad: str) -> None:
    with pytest.raises(BadInput, match="node list"):
        expand(bad)


@given(st.lists(st.integers(0, 999), min_size=1, max_size=20, unique=True))
def test_ranges_round_trip(numbers: list[int]) -> None:
    text = "n[" + ",".join(str(n) for n in numbers) + "]"
    assert expand(text) == [f"n{n}" for n in numbers]


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="needs scontrol")
def test_same_as_scontrol_show_hostnames() -> None:
    text = "node[1-3,10],gpu[08-09],rack[1-2]-n[1-2]"
    out = subprocess.run(["scontrol", "show", "hostnames", text], capture_output=True, text=True)
    assert out.returncode == 0
    assert expand(text) == out.stdout.split()
