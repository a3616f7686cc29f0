from __future__ import annotations

import math
from pathlib import Path

from dii_hpc.store.atomic import create_exclusive, read_json, write_json


def test_write_json_replaces_without_leaving_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "run.json"
    write_json(target, {"x": 1})
    write_json(target, {"x": 2, "nan": math.nan, "inf": math.inf})
    data = read_json(target)
    assert data["x"] == 2 and math.isnan(data["nan"]) and data["inf"] == math.inf
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_create_exclusive_only_once(tmp_path: Path) -> None:
    assert create_exclusive(tmp_path / "m", b"1")
    assert not create_exclusive(tmp_path / "m", b"2")
    assert (tmp_path / "m").read_bytes() == b"1"
