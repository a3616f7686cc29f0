from __future__ import annotations

import pandas as pd
import pytest

from dii_hpc.errors import FilterSyntaxError
from dii_hpc.store.query import apply_filter, parse_filter

DF = pd.DataFrame(
    {
        "run_id": ["a", "b", "c", "d"],
        "status": ["FINISHED", "FAILED", "FINISHED", "RUNNING"],
        "params.lr": [0.001, 0.01, 0.1, None],
        "params.opt": ["adam", "sgd", "adam", "sgd"],
        "metrics.acc": [0.95, 0.5, 0.91, None],
        "metrics.train/loss": [0.1, 0.9, 0.2, 0.3],
    }
)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("params.lr > 0.001 and metrics.acc >= 0.9", ["c"]),
        ("params.lr >= 0.001 and metrics.acc >= 0.9", ["a", "c"]),
        ("status = FINISHED", ["a", "c"]),
        ('params.opt != "adam"', ["b", "d"]),
        ("not status = FINISHED", ["b", "d"]),
        ("(lr < 0.05 or acc > 0.9) and opt = adam", ["a", "c"]),
        ("metrics.train/loss <= 0.2", ["a", "c"]),
        ("acc > 1e-1 and lr < 1E-2", ["a"]),
        ("params.lr != 0.01", ["a", "c"]),  # d has no lr: no comparison holds for it
        ("metrics.acc != 0.5", ["a", "c"]),
        ("not params.lr = 0.01", ["a", "c", "d"]),  # not negates: d again
    ],
)
def test_filters_select_the_right_runs(expr: str, expected: list[str]) -> None:
    assert apply_filter(DF, expr)["run_id"].tolist() == expected


@pytest.mark.parametrize(
    ("expr", "pos"),
    [("params.lr >", 11), ("params.lr > 1 and", 17), ("(acc > 1", 8), ("acc ? 1", 4),
     ("> 1", 0), ("acc > 1 1", 8), ("nope > 1", 0), ('opt > "x"', 0)],
)
def test_malformed_filters_point_at_the_position(expr: str, pos: int) -> None:
    with pytest.raises(FilterSyntaxError, match=f"position {pos}"):
        parse_filter(expr)(DF)
