"""Resubmission keeps run ids and continues their metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.config import from_dict
from dii_hpc.launch.lifecycle import resubmit
from dii_hpc.launch.submit import run_debug_jobs, submit
from dii_hpc.store.store import Store

REPO = Path(__file__).resolve().parents[2]
FIX = "tests.launch.fixtures.models"


@pytest.fixture()
def store(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(REPO)
    return Store(store_path)


def test_resubmit_failed_reuses_run_ids(store: Store, tmp_path: Path) -> None:
    raw = {"experiment": "flaky", "resources": {"sys_metrics_s": 0},
           "models": {"f": {"class": f"{FIX}:Flaky", "params": {"marker": str(tmp_path / "m")}}},
           "sweep": {"seeds": [0]}}
    res = submit(from_dict(raw), store, "debug")
    run_debug_jobs(res.submission_id)
    (rid,) = res.run_ids
    assert store.run(rid)["status"] == "FAILED"
    out = resubmit(store, "flaky", "debug")
    assert out["runs"] == 1 and out["submissions"][0]["runs"] == [rid]
    run_debug_jobs(out["submissions"][0]["submission"])
    rec = store.run(rid)
    assert rec["status"] == "FINISHED" and rec["attempts"] == 2 and rec["error"] is None
    assert store.runs("flaky").shape[0] == 1
    assert resubmit(store, "flaky", "debug")["runs"] == 0


def test_resubmit_moves_the_old_slurm_record_to_attempts(store: Store, tmp_path: Path) -> None:
    """#14 item 8: a resubmitted run kept the old attempt's Slurm record (job 81 FAILED)."""
    raw = {"experiment": "flaky", "resources": {"sys_metrics_s": 0},
           "models": {"f": {"class": f"{FIX}:Flaky", "params": {"marker": str(tmp_path / "m")}}},
           "sweep": {"seeds": [0]}}
    res = submit(from_dict(raw), store, "debug")
    run_debug_jobs(res.submission_id)
    (rid,) = res.run_ids
    old = {"job_id": "81", "state": "FAILED", "slurm_state": "FAILED"}
    store.update_run(rid, slurm=old)
    out = resubmit(store, "flaky", "debug")
    run_debug_jobs(out["submissions"][0]["submission"])
    rec = store.run(rid)
    assert rec["status"] == "FINISHED" and rec["slurm_attempts"] == [old]
    assert (rec.get("slurm") or {}).get("job_id") != "81" and "state" not in (rec.get("slurm") or {})


def test_cancel_of_a_local_run_ends_it_cancelled_with_its_points(store: Store, tmp_path: Path) -> None:
    """#14 item 3, the local half: `dii-hpc cancel RUN` ends a local `dii-hpc run` CANCELLED
    (it was KILLED, as any SIGTERM), every point logged before the cancel stored."""
    import subprocess
    import sys

    from tests.conftest import DII, default_signals, run_cli
    from tests.launch.fixtures import progress

    marks = tmp_path / "progress.txt"
    proc = subprocess.Popen([DII, "run", "--executor", "local", "-e", "cancel-local",
                             "--sys-metrics-s", "0", "--", sys.executable,
                             str(REPO / "tests" / "launch" / "fixtures" / "sleepy.py"), str(marks)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    logged = progress.wait_for(marks, 6, alive=lambda: proc.poll() is None)[1:]
    (rec,) = store.records("cancel-local")
    res = run_cli("cancel", rec["run_id"], cwd=REPO)
    assert res.returncode == 0, res.stderr
    proc.communicate(timeout=60)
    rec = store.run(rec["run_id"])
    assert rec["status"] == "CANCELLED" and "cancel" in rec["error"]
    progress.assert_stored(store, rec["run_id"], "x", logged)
