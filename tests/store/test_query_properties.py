"""Property-based tests of the --filter parser: never crashes, errors always point inside."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dii_hpc.errors import FilterSyntaxError
from dii_hpc.store.query import parse_filter

DF = pd.DataFrame({"params.lr": [0.1, 0.01, None], "metrics.acc": [0.5, 0.9, 0.7],
                   "status": ["FINISHED", "FAILED", "RUNNING"]})
COLS = st.sampled_from(["params.lr", "metrics.acc", "lr", "acc"])
OPS = st.sampled_from(["=", "==", "!=", "<", "<=", ">", ">="])
NUMS = st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.6g}")


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 2 or draw(st.booleans()):
        return f"{draw(COLS)} {draw(OPS)} {draw(NUMS)}"
    join = draw(st.sampled_from(["and", "or"]))
    left, right = draw(expressions(depth + 1)), draw(expressions(depth + 1))
    expr = f"{left} {join} {right}"
    return f"not ({expr})" if draw(st.booleans()) else f"({expr})"


@given(expressions())
@settings(max_examples=200, deadline=None)
def test_valid_expressions_give_a_boolean_mask(expr: str) -> None:
    mask = parse_filter(expr)(DF)
    assert mask.dtype == bool and len(mask) == len(DF)


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_fails_with_a_position(text: str) -> None:
    try:
        parse_filter(text)(DF)
    except FilterSyntaxError as err:
        msg = str(err)
        assert "\n" not in msg
        if "position" in msg:
            pos = int(msg.split("position ")[1].split(":")[0])
            assert 0 <= pos <= len(text)


@given(st.lists(st.one_of(st.none(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)),
                min_size=1, max_size=40), st.booleans())
@settings(max_examples=200, deadline=None)
def test_sorting_numbers_fast_is_sorting_them_one_by_one(values: list, ascending: bool) -> None:
    """The vectorised sort of a numeric column gives the order of the general one (ties kept
    in place, missing values last)."""
    import numpy as np

    from dii_hpc.store import query

    df = pd.DataFrame({"run_id": [f"r{i:02d}" for i in range(len(values))],
                       "metrics.m": np.array([np.nan if v is None else v for v in values],
                                             dtype="float64")})
    general = df.astype({"metrics.m": object})  # an object column takes the general path
    fast = query.sort_runs(df, "metrics.m", ascending)["run_id"].tolist()
    assert fast == query.sort_runs(general, "metrics.m", ascending)["run_id"].tolist()
