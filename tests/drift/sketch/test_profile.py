"""Profiles: shards merged equal one profile of the whole within the sketch's error (counts,
moments, min/max exact); bytes round-trip; a missing package is one line (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import check as sketched
from dii_hpc.drift.sketch import codec
from dii_hpc.drift.sketch.profile import profile_file
from dii_hpc.drift.sketch.tests import SketchPair, ks
from dii_hpc.errors import BadInput
from tests.drift.sketch.conftest import ROWS


def test_merged_shards_equal_one_profile_within_error(batches: dict[str, Path]) -> None:
    whole = profile_file(batches["ref"])
    merged = sketched.profile_files(sketched.files_of(str(batches["ref_glob"])), DriftOptions())
    assert merged.rows == whole.rows == ROWS and len(merged.sources) == 4
    frame = pd.read_parquet(batches["ref"])
    for name, one in whole.columns.items():
        part = merged.columns[name]
        assert (part.kind, part.n, part.missing) == (one.kind, one.n, one.missing), name
        if one.kind == "categorical":
            assert part.category_counts() == one.category_counts()
            continue
        values = frame[name].dropna().to_numpy(np.float64)
        assert (part.min, part.max) == (values.min(), values.max())
        assert part.mean == pytest.approx(values.mean(), rel=1e-9, abs=1e-12)
        assert part.std == pytest.approx(values.std(), rel=1e-9)
        d = ks(SketchPair("numeric", one, part))  # two sketches of the same data
        assert d.error is not None and 0 < d.error < 0.02
        assert d.statistic <= d.error, name
    assert merged.columns["flag"].values == {0.0: int((frame["flag"] == 0).sum()),
                                             1.0: int((frame["flag"] == 1).sum())}
    assert merged.columns["mean"].values is None  # many values: no exact counts kept


def test_bytes_round_trip(batches: dict[str, Path], tmp_path: Path) -> None:
    prof = profile_file(batches["cur"])
    codec.write(tmp_path / "p.sketch", prof)
    back = codec.read(tmp_path / "p.sketch")
    assert back.rows == prof.rows and back.sources == prof.sources
    for name, col in prof.columns.items():
        got = back.columns[name]
        assert (got.kind, got.n, got.missing, got.mean, got.m2, got.min, got.max, got.values) == \
            (col.kind, col.n, col.missing, col.mean, col.m2, col.min, col.max, col.values)
        assert bytes(got.sketch.serialize()) == bytes(col.sketch.serialize())
    with pytest.raises(BadInput, match="not a sketch profile"):
        codec.loads(b"nonsense", "x.sketch")


def test_a_missing_column_is_a_schema_failure(batches: dict[str, Path], tmp_path: Path) -> None:
    pd.read_parquet(batches["cur"]).drop(columns=["tail"]).to_parquet(tmp_path / "c.parquet")
    section = sketched.check_files(str(batches["ref"]), str(tmp_path / "c.parquet"),
                                   DriftOptions(sketch=True))
    assert [q.column for q in section.quality_failures() if q.rule == "schema"] == ["tail"]
    assert "tail" not in section.features


def test_missing_package_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from dii_hpc.drift.sketch import datasketches

    monkeypatch.setitem(sys.modules, "datasketches", None)  # import fails as when absent
    with pytest.raises(BadInput, match=r"pip install 'dii-hpc\[monitor\]'"):
        datasketches()
