"""Property-based tests of the config loader and the sweep expansion."""

from __future__ import annotations

import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dii_hpc.config import check_keys, from_dict
from dii_hpc.config.schema import Sweep
from dii_hpc.config.sweep import expand
from dii_hpc.config.yamlio import loads
from dii_hpc.errors import ConfigError

MODEL = "tests.launch.fixtures.models:Quadratic"
values = st.lists(st.one_of(st.integers(-5, 5), st.floats(0.001, 1.0), st.text("abc", min_size=1,
                                                                              max_size=3)),
                  min_size=1, max_size=3, unique=True)
grids = st.dictionaries(st.sampled_from(["lr", "epochs", "wd", "momentum"]), values, max_size=3)
seeds = st.one_of(st.none(), st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True))


@given(grids, seeds)
@settings(max_examples=150, deadline=None)
def test_grid_expansion_is_the_full_product(grid: dict, seed_list: list | None) -> None:
    sweep = Sweep.model_validate({"grid": grid, **({"seeds": seed_list} if seed_list else {})})
    points = expand(sweep)
    want = math.prod(len(v) for v in grid.values()) * (len(seed_list) if seed_list else 1)
    assert len(points) == want
    combos = {(tuple(sorted((k, repr(v)) for k, v in p.values.items())), p.seed) for p in points}
    assert len(combos) == want  # every combination exactly once
    for p in points:
        assert set(p.values) == {f"params.{k}" for k in grid} or set(p.values) == set(grid) \
            or all(k.endswith(tuple(grid)) for k in p.values)


@given(grids)
@settings(max_examples=100, deadline=None)
def test_valid_configs_load_and_sweep_keys_must_exist(grid: dict) -> None:
    raw = {"experiment": "p", "models": {"m": {"class": MODEL}},
           "params": {k: v[0] for k, v in grid.items()}, "sweep": {"grid": grid}}
    loaded = from_dict(raw)
    assert loaded.config.experiment == "p"
    if grid:
        bad = {**raw, "params": {}}
        try:
            check_keys(bad, from_dict(bad).config.sweep, "p.yaml")
        except ConfigError as err:
            assert "\n" not in str(err)
        else:
            raise AssertionError("a sweep over keys missing from params must be refused")


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_text_loads_or_fails_with_one_line_config_error(text: str) -> None:
    try:
        raw, _lines = loads(text, "fuzz.yaml")
        from_dict(raw, source="fuzz.yaml")
    except ConfigError as err:
        assert "\n" not in str(err).strip() and "fuzz.yaml" in str(err)


@given(st.dictionaries(st.text("abcdefmoqrst_", min_size=1, max_size=8),
                       st.one_of(st.integers(), st.text(max_size=5), st.booleans()), max_size=4))
@settings(max_examples=200, deadline=None)
def test_unknown_top_level_keys_are_named(extra: dict) -> None:
    known = {"experiment", "executor", "models", "datasets", "params", "sweep", "resources",
             "setup", "kind", "tags"}
    extra = {k: v for k, v in extra.items() if k not in known}
    raw = {"experiment": "p", "models": {"m": {"class": MODEL}}, **extra}
    text = yaml.safe_dump(raw)
    if not extra:
        from_dict(loads(text)[0])
        return
    try:
        from_dict(*[loads(text, "x.yaml")[0]], source="x.yaml")
    except ConfigError as err:
        assert any(k in str(err) for k in extra)
    else:
        raise AssertionError(f"unknown keys {list(extra)} accepted")
