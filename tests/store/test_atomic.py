from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def test_a_missing_file_in_a_missing_folder_fails_at_once(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "nowhere" / "run.json")
    assert time.perf_counter() - t0 < 0.05  # no settling wait when the folder itself is absent


_WRITER = """
import sys
from dii_hpc.store.atomic import write_json
for v in range(int(sys.argv[2])):
    write_json(sys.argv[1], {"v": v, "pad": "x" * 8192})
"""


def _replaced_while_read(target: Path, total: int) -> list[int]:
    """A second process replaces ``target`` ``total`` times; every store read must succeed."""
    write_json(target, {"v": -1})
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(total)], env=env)
    seen = []
    while writer.poll() is None:
        seen.append(read_json(target)["v"])  # ENOENT/ESTALE mid-rename must not escape
    assert writer.wait() == 0
    return seen


def test_reads_during_replacement_never_fail_locally(tmp_path: Path) -> None:
    seen = _replaced_while_read(tmp_path / "state.json", 300)
    assert seen == sorted(seen) and read_json(tmp_path / "state.json")["v"] == 299


def test_reads_during_replacement_never_fail_on_glusterfs(shared_store: Path) -> None:
    """GlusterFS answers an open racing a rename with ENOENT/ESTALE now and then (see
    tests/testbed/test_sharedfs.py); `read_json` settles those instead of raising."""
    shared_store.mkdir(parents=True, exist_ok=True)
    seen = _replaced_while_read(shared_store / "state.json", 500)
    assert seen and seen == sorted(seen)
    assert read_json(shared_store / "state.json")["v"] == 499
