from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

import dii_hpc
from dii_hpc.records import jobs
from dii_hpc.store.check import check
from dii_hpc.store.gc import gc, parse_age
from dii_hpc.store.merge import merge
from dii_hpc.store.store import Store
from tests.conftest import run_cli


def _runs(store_dir: Path, exp: str, n: int, artifact: Path | None = None) -> list[str]:
    ids = []
    for i in range(n):
        with dii_hpc.start_run(exp, params={"i": i}, store=store_dir) as run:
            run.log_metric("loss", float(i), step=0)
            if artifact is not None:
                run.log_artifact(artifact)
        ids.append(run.id)
    return ids


def test_merge_two_stores_without_duplicates(tmp_path: Path) -> None:
    art = tmp_path / "w.bin"
    art.write_bytes(b"weights")
    a, b = tmp_path / "a", tmp_path / "b"
    ids_a = _runs(a, "exp", 3, art)
    ids_b = _runs(b, "exp", 2, art) + _runs(b, "other", 1)
    first = merge(Store(a), Store(b))
    assert first == {"runs_copied": 3, "runs_updated": 0, "runs_skipped": 0, "blobs_copied": 0,
                     "folders": {}, "notes": []}
    again = merge(Store(a), Store(b))
    assert again["runs_copied"] == 0 and again["runs_skipped"] == 3
    merged = Store(b).runs()
    assert sorted(merged["run_id"]) == sorted(ids_a + ids_b)
    assert Store(b).metric_history(ids_a[2], "loss")["value"].tolist() == [2.0]
    assert len([p for p in (b / "blobs").rglob("*") if p.is_file()]) == 1


def test_merge_prefers_the_copy_that_is_further_along(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    rid = Store(a).create_run("exp", status="PENDING")
    merge(Store(a), Store(b))
    Store(a).update_run(rid, status="FINISHED", end_time=time.time())
    assert merge(Store(a), Store(b))["runs_updated"] == 1
    assert Store(b).run(rid)["status"] == "FINISHED"


def test_gc_removes_only_unreferenced_old_blobs_and_ended_job_folders(store_path: Path, tmp_path: Path) -> None:
    art = tmp_path / "keep.bin"
    art.write_bytes(b"keep")
    ids = _runs(store_path, "exp", 1, art)
    store = Store()
    from dii_hpc.store.blobs import put_bytes

    orphan, _ = put_bytes(store.root, b"orphan")
    jobdir = store.jobs_dir / "SUB1"
    jobdir.mkdir(parents=True)
    (jobdir / "payload.pkl").write_bytes(b"x")
    jobs.write(store, "SUB1", jobs.JobRecord(runs={ids[0]: "123"}))
    live = store.jobs_dir / "SUB2"
    live.mkdir()
    jobs.write(store, "SUB2", jobs.JobRecord(runs={store.create_run("exp"): "124"}))  # PENDING
    dry = gc(store, parse_age("0s"), dry_run=True)
    assert dry["blobs"] == [orphan] and dry["job_folders"] == ["SUB1"]
    assert jobdir.exists()
    gc(store, 0.0)
    assert not jobdir.exists() and live.exists()
    assert store.artifact_path(ids[0], "keep.bin").read_bytes() == b"keep"
    assert gc(store, 0.0)["blobs"] == []
    assert gc(store, parse_age("7d"))["blobs"] == []


def test_check_reports_damage_and_unsafe_permissions(store_path: Path, tmp_path: Path) -> None:
    art = tmp_path / "a.bin"
    art.write_bytes(b"abc")
    ids = _runs(store_path, "exp", 3, art)
    store = Store()
    assert [p for p in check(store) if p.severity == "error"] == []
    (store.run_dir(ids[0]) / "run.json").write_text("{")
    chunk = store.run_dir(ids[1]) / "metrics.zarr" / "loss" / "c.0.0"  # "." chunk keys
    chunk.write_bytes(b"not zstd")
    blob = store.artifact_path(ids[2], "a.bin")
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered")
    loose = store.root / "loose.txt"
    loose.write_text("x")
    os.chmod(loose, 0o666)
    problems = [str(p) for p in check(store)]
    assert any(ids[0] in p and "unreadable" in p for p in problems)
    assert any(ids[1] in p and "metrics.zarr" in p for p in problems)
    assert any("does not match its sha256" in p for p in problems)
    assert any("loose.txt" in p and "world-writable" in p for p in problems)
    res = run_cli("store", "check")
    assert res.returncode == 1 and "errors" in res.stdout


def test_writers_never_create_world_writable_files(store_path: Path) -> None:
    old = os.umask(0)
    try:
        _runs(store_path, "exp", 1)
    finally:
        os.umask(old)
    for p in store_path.rglob("*"):
        assert not p.stat().st_mode & stat.S_IWOTH, p


def test_store_init_sets_group_and_umask(store_path: Path) -> None:
    import grp

    group = grp.getgrgid(os.getgid()).gr_name
    res = run_cli("store", "init", "--group", group, "--umask", "0027")
    assert res.returncode == 0, res.stderr
    assert store_path.stat().st_mode & stat.S_ISGID
    assert run_cli("store", "init", "--group", "no-such-group-xyz").returncode == 2
    assert run_cli("store", "init", "--umask", "9z").returncode == 2


@pytest.mark.parametrize("age,seconds", [("7d", 604800), ("12h", 43200), ("30m", 1800), ("5", 5)])
def test_parse_age(age: str, seconds: float) -> None:
    assert parse_age(age) == seconds


def test_submission_folders_with_pickles_are_owner_only(store_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("experiment: perm\nmodels: {m: {class: 'tests.launch.fixtures.models:Quadratic'}}\n"
                   "datasets: {d: {class: 'tests.launch.fixtures.models:Points'}}\n")
    res = run_cli("submit", str(cfg), "--executor", "local", "--wait",
                  env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert res.returncode == 0, res.stderr
    folders = [p for p in (store_path / "jobs").rglob("submitit") if p.is_dir()]
    assert folders and all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in folders)
    assert not [p for p in check(Store()) if "pickled" in p.message]


def test_check_finds_a_run_stuck_running_without_its_writer(store_path: Path) -> None:
    """#14 item 5: a run left RUNNING by a writer that died gave `store check` 0 errors."""
    import subprocess
    import sys

    code = ("import dii_hpc, os\nrun = dii_hpc.start_run('stuck')\nrun.log_metric('x', 1.0)\n"
            "run.flush()\nprint(run.id, flush=True)\nos._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rid = out.stdout.strip()
    store = Store()
    assert store.run(rid)["status"] == "RUNNING"
    stuck = [str(p) for p in check(store, permissions=False) if p.severity == "error"]
    assert len(stuck) == 1 and rid in stuck[0] and "RUNNING" in stuck[0] and "gone" in stuck[0]
    res = run_cli("store", "check")
    assert res.returncode == 1 and rid in res.stdout
