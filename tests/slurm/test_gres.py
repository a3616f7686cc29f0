"""GRES requests and node declarations parse into name, type and count."""

from __future__ import annotations

import pytest

from dii_hpc.slurm.gres import Gres, count_on_node, parse, parse_node


@pytest.mark.parametrize(("text", "gres"), [
    ("gpu", Gres("gpu", None, 1)), ("gpu:2", Gres("gpu", None, 2)),
    ("gpu:a100", Gres("gpu", "a100", 1)), ("gpu:a100:4", Gres("gpu", "a100", 4)),
    ("mps:100", Gres("mps", None, 100)),
])
def test_parse_request(text: str, gres: Gres) -> None:
    assert parse(text) == gres


def test_text_form_is_what_sbatch_takes() -> None:
    assert str(parse("gpu:a100")) == "gpu:a100:1" and str(parse("gpu:2")) == "gpu:2"


@pytest.mark.parametrize("bad", ["", "gpu:", ":2", "gpu:a100:2:3", "gpu:0", "g pu"])
def test_bad_requests_say_the_form(bad: str) -> None:
    with pytest.raises(ValueError, match="gres|count"):
        parse(bad)


def test_node_declarations() -> None:
    node = parse_node("gpu:a100:2(S:0-1),gpu:v100:1,mps:200")
    assert node == [Gres("gpu", "a100", 2), Gres("gpu", "v100", 1), Gres("mps", None, 200)]
    assert count_on_node(node, "gpu") == 3 and count_on_node(node, "gpu", "a100") == 2
    assert parse_node("(null)") == [] and parse_node("") == []
    assert parse_node("gpu:2") == [Gres("gpu", None, 2)]
