"""gc removes a job folder only when its runs are known to have ended or to be gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.errors import DamagedRun
from dii_hpc.records import jobs
from dii_hpc.store.blobs import blob_path, put_bytes
from dii_hpc.store.gc import gc
from dii_hpc.store.store import Store


def _submission(store: Store, name: str, run_id: str) -> Path:
    folder = store.jobs_dir / name
    folder.mkdir(parents=True)
    (folder / "payload.pkl").write_bytes(b"pickled task")
    jobs.write(store, name, jobs.JobRecord(runs={run_id: "123"}))
    return folder


def test_a_torn_run_json_keeps_the_live_submissions_folder(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    live = store.create_run("exp", status="RUNNING")
    folder = _submission(store, "LIVE", live)
    run_json = store.run_dir(live) / "run.json"
    run_json.write_bytes(run_json.read_bytes()[:17])  # a writer cut off mid-record
    with pytest.raises(DamagedRun):
        store.run(live)
    res = gc(store, 0.0)
    assert res["job_folders"] == [] and (folder / "payload.pkl").is_file()


def test_a_deleted_run_no_longer_holds_its_folder(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    gone = store.create_run("exp", status="RUNNING")
    folder = _submission(store, "GONE", gone)
    store.delete_run(gone)
    assert gc(store, 0.0)["job_folders"] == ["GONE"] and not folder.exists()


def test_a_runless_submission_folder_goes_only_once_older_than_the_cutoff(tmp_path: Path) -> None:
    """A job with no run (a drift sketch check's shard profiles) is kept while any of its
    files is newer than the cutoff, so a check still writing shards keeps its folder."""
    import os
    import time

    store = Store(tmp_path / "store")
    folder = store.jobs_dir / "SKETCH"
    (folder / "sketches").mkdir(parents=True)
    shard = folder / "sketches" / "current-00000.sketch"
    shard.write_bytes(b"profile")
    jobs.write(store, "SKETCH", jobs.JobRecord(runs={}))
    old = time.time() - 7200
    os.utime(folder, (old, old))
    os.utime(folder / "sketches", (old, old))
    assert gc(store, 3600.0)["job_folders"] == [] and shard.is_file()  # a shard written just now
    os.utime(shard, (old, old))
    assert gc(store, 3600.0)["job_folders"] == ["SKETCH"] and not folder.exists()


def test_an_unreadable_artifact_index_stops_blob_removal(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    rid = store.create_run("exp", status="FINISHED")
    sha, _ = put_bytes(store.root, b"weights the damaged index named")
    (store.run_dir(rid) / "artifacts.json").write_text('{"w.pt": {"sha2')
    with pytest.raises(DamagedRun, match=rid):
        gc(store, 0.0)
    assert blob_path(store.root, sha).is_file()
