"""`drift check --executor slurm` on the test bed: one array task per shard (4 reference + 4
current files), a merge job after them, the verdict of the local check; each task's rows and
peak memory in the section. Skipped when Slurm does not answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dii_hpc import Store
from dii_hpc.records import jobs
from tests.conftest import run_cli
from tests.drift.sketch.conftest import DRIFTED, ROWS, SHARDS

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_array_per_shard_and_merge_job(store_path: Path, batches: dict[str, Path],
                                       tmp_path: Path) -> None:
    out = tmp_path / "drift.json"
    res = run_cli("drift", "check", "--reference", str(batches["ref_glob"]), "--current",
                  str(batches["cur_glob"]), "--executor", "slurm", "--json", str(out),
                  "--drift-share", "0.2", timeout=600)
    assert res.returncode == 1, res.stderr  # drift found: exit 1, as a local check
    assert "drift found" in res.stderr and "from sketches" in res.stdout
    section = json.loads(out.read_text())
    assert [c for c, f in section["features"].items() if f["drift"]] == DRIFTED
    tasks = section["sketch"]["tasks"]
    shards = [t for t in tasks if not t.get("merge")]
    assert len(shards) == 2 * SHARDS and len(tasks) == 2 * SHARDS + 1
    assert sum(t["rows"] for t in shards) == 2 * ROWS
    assert sorted(int(t["task"]) for t in shards) == list(range(2 * SHARDS))  # one array
    assert all(t["peak_rss_mb"] > 0 for t in tasks)
    assert section["sketch"]["reference_files"] == section["sketch"]["current_files"] == SHARDS
    records = [r for _, r in jobs.every(Store()) if r.experiment == "drift"]
    assert len(records) == 1 and len(records[0].arrays) == 2  # the array and the merge job
