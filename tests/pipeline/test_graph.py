"""The stage graph: unknown needs and cycles as one line naming them; order; reachability."""

from __future__ import annotations

import pytest

from dii_hpc.errors import ConfigError
from dii_hpc.pipeline import graph


def test_order_puts_needs_first_and_otherwise_keeps_the_file_order() -> None:
    needs = {"site": ("gate",), "train": (), "best": ("train",), "gate": ("best", "lint"),
             "lint": ()}
    assert graph.order(needs) == ["train", "best", "lint", "gate", "site"]
    assert graph.depths(needs) == {"train": 0, "best": 1, "lint": 0, "gate": 2, "site": 3}


@pytest.mark.parametrize("needs,cycle", [
    ({"a": ("b",), "b": ("a",)}, "stage a: cycle in needs: a -> b -> a"),
    ({"a": ("a",)}, "stage a: cycle in needs: a -> a"),
    ({"x": (), "a": ("x", "c"), "b": ("a",), "c": ("b",)}, "cycle in needs: a -> c -> b -> a"),
])
def test_a_cycle_is_named_stage_by_stage(needs: dict, cycle: str) -> None:
    with pytest.raises(ConfigError) as err:
        graph.order(needs)
    assert cycle in str(err.value)


def test_an_unknown_need_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        graph.order({"train": (), "best": ("trian",)})
    assert str(err.value) == ("stage best: needs unknown stage 'trian' (did you mean train?); "
                              "stages: train, best")


def test_descendants_and_ancestors() -> None:
    needs = {"t": (), "b": ("t",), "e": ("b",), "p": ("b",), "g": ("e", "p"), "s": ("g",)}
    assert graph.descendants(needs, ["e"]) == {"g", "s"}
    assert graph.descendants(needs, ["t"]) == {"b", "e", "p", "g", "s"}
    assert graph.ancestors(needs, "g") == ["e", "p", "b", "t"]
    assert graph.find_cycle(needs) is None
