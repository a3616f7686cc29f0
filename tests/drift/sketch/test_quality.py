"""Data-quality rules from sketches: the same failures as the exact check on the same data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.drift import check as exact
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import check as sketched
from dii_hpc.records.drift import DriftSection

N = 20_000  # rows: above the KLL k, so numeric sketches are in estimation mode


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.normal(0, 1, N), "b": rng.uniform(0, 10, N), "c": rng.normal(3, 1, N),
        "d": rng.exponential(1.0, N), "flag": rng.integers(0, 3, N),
        "color": rng.choice(["red", "green", "blue"], N, p=[0.5, 0.3, 0.2])})


def _missing(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[f.index[: N // 5], "a"] = np.nan
    return f


def _out_of_range(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[f.index[: N // 20], "b"] += 100.0
    return f


def _new_category(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[f.index[: N // 30], "color"] = "purple"
    return f


def _renamed(f: pd.DataFrame) -> pd.DataFrame:
    return f.rename(columns={"c": "c_renamed"})


def _text(f: pd.DataFrame) -> pd.DataFrame:
    f["d"] = f["d"].round(3).astype(str)
    f.loc[f.index[0], "d"] = "n/a"
    return f


def _constant(f: pd.DataFrame) -> pd.DataFrame:
    f["flag"] = 7
    return f


FAULTS: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], set[tuple[str, str | None]]]] = {
    "none": (lambda f: f, set()),
    "missing": (_missing, {("missing_share", "a")}),
    "out_of_range": (_out_of_range, {("out_of_range", "b")}),
    "new_category": (_new_category, {("new_category", "color")}),
    "renamed": (_renamed, {("schema", "c"), ("schema", "c_renamed")}),
    "type": (_text, {("type", "d")}),
    "constant": (_constant, {("constant", "flag"), ("out_of_range", "flag")}),
}


def _failures(section: DriftSection) -> set[tuple[str, str | None]]:
    return {(q.rule, q.column) for q in section.quality_failures()}


@pytest.fixture(scope="module")
def ref_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quality") / "ref.parquet"
    _frame(1).to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("fault", list(FAULTS))
def test_sketch_rules_fail_as_exact_rules(fault: str, ref_file: Path, tmp_path: Path) -> None:
    inject, expected = FAULTS[fault]
    cur = tmp_path / "cur.parquet"
    inject(_frame(2)).to_parquet(cur, index=False)
    want = exact.check_files(str(ref_file), str(cur), DriftOptions())
    got = sketched.check_files(str(ref_file), str(cur), DriftOptions(sketch=True))
    assert _failures(want) == expected
    assert _failures(got) == expected
    # every rule with a sketch form ran on every column it judges; duplicates needs rows
    assert {q.rule for q in got.data_quality} == {q.rule for q in want.data_quality} - {"duplicates"}
    assert got.sketch is not None and got.sketch.quality_unchecked == ["duplicates"]
    blocked = {c for r, c in expected if r in ("missing_share", "type", "schema")}
    assert set(got.features) == set(want.features)
    assert not blocked & set(got.features)


def test_new_category_is_approximate_beyond_the_frequent_items_map(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ids = [f"id{i}" for i in rng.integers(0, 6000, N)]
    pd.DataFrame({"x": rng.normal(0, 1, N), "id": ids}).to_parquet(tmp_path / "r.parquet")
    cur = pd.DataFrame({"x": rng.normal(0, 1, N), "id": ["new"] * (N // 2) + ids[N // 2:]})
    cur.to_parquet(tmp_path / "c.parquet")
    got = sketched.check_files(str(tmp_path / "r.parquet"), str(tmp_path / "c.parquet"),
                               DriftOptions(sketch=True))
    (row,) = [q for q in got.data_quality if q.rule == "new_category"]
    assert row.status == "fail" and row.detail.startswith("approximately")
    assert "'new'" in row.detail
    assert "'id" not in row.detail  # reference ids too rare to list are not taken for new


def test_cli_exits_1_on_a_sketch_rule_failure(ref_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from dii_hpc.cli.app import main

    cur = tmp_path / "cur.parquet"
    _missing(_frame(2)).to_parquet(cur, index=False)
    code = main(["drift", "check", "--reference", str(ref_file), "--current", str(cur),
                 "--sketch", "--no-store"])
    assert code == 1
    assert "missing_share(a)" in capsys.readouterr().err
