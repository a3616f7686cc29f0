"""One run per task: rank 0 writes; other ranks are silent, or write their own rank<k>/ arrays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dii_hpc.errors import BadInput
from dii_hpc.store.store import Store
from dii_hpc.tracking import ranks
from dii_hpc.tracking.run import start_run

REPO = Path(__file__).resolve().parents[2]

RANK_WRITER = """
import sys
from dii_hpc.tracking.run import start_run
store, rid, rank, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with start_run("ddp", store=store, run_id=rid, rank=rank, all_ranks=True,
               flush_points=500, flush_interval=0.05) as run:
    for step in range(n):
        run.log_metric("loss", rank + step / n, step=step)
"""


def test_other_ranks_are_silent_by_default(store_path: Path) -> None:
    with start_run("ddp", store=store_path, rank=0) as run0:
        before = (run0.dir / "run.json").read_bytes()
        with start_run("ddp", store=store_path, run_id=run0.id, rank=1) as run1:
            assert isinstance(run1, ranks.SilentRun) and run1.id == run0.id
            run1.log_metric("loss", 1.0, step=0)
            run1.log_metrics({"acc": 0.5})
            run1.log_params({"x": 1})
            assert run1.log_artifact(__file__) == ""
        assert (run0.dir / "run.json").read_bytes() == before
        run0.log_metric("loss", 0.5, step=0)
    store = Store(store_path)
    assert store.metric_keys(run0.id) == ["loss"]
    assert store.run(run0.id)["status"] == "FINISHED"


def test_all_ranks_write_prefixed_arrays_without_losing_or_duplicating(store_path: Path) -> None:
    n = 3000
    run0 = start_run("ddp", store=store_path, rank=0, all_ranks=True, flush_points=500,
                     flush_interval=0.05)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", RANK_WRITER, str(store_path), run0.id,
                               str(k), str(n)], env=env) for k in (1, 2)]
    for step in range(n):
        run0.log_metric("loss", step / n, step=step)
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    run0.refresh_summary()
    run0.finish()
    store = Store(store_path)
    assert store.metric_keys(run0.id) == ["rank0/loss", "rank1/loss", "rank2/loss"]
    for k in range(3):
        data = store.metric_array(run0.id, f"rank{k}/loss")
        assert data.shape[0] == n and np.array_equal(data[:, 0], np.arange(n))
        assert np.allclose(data[:, 1], k + np.arange(n) / n)
    summary = store.run(run0.id)["metrics"]
    assert {key: summary[key]["count"] for key in summary} == {f"rank{k}/loss": n for k in range(3)}


def test_all_ranks_above_zero_needs_the_run_id(store_path: Path) -> None:
    with pytest.raises(BadInput, match="rank 1: all_ranks=True needs the id"):
        start_run("ddp", store=store_path, rank=1, all_ranks=True)


def test_fluent_logging_attaches_as_the_rank(store_path: Path) -> None:
    store = Store(store_path)
    rid = store.create_run("cmds", status="RUNNING")
    code = ("import dii_hpc\nfor i in range(5):\n    dii_hpc.log_metric('loss', i, step=i)\n"
            "print(type(dii_hpc.active_run()).__name__)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DII_HPC_STORE": str(store_path),
           "DII_HPC_RUN_ID": rid, "WORLD_SIZE": "2"}
    out = [subprocess.run([sys.executable, "-c", code], env={**env, "RANK": str(r)},
                          capture_output=True, text=True, check=True).stdout.strip() for r in (1, 0)]
    assert out == ["SilentRun", "Run"]
    assert store.metric_keys(rid) == ["loss"]
    store.update_run(rid, launch={"all_ranks": True, "world_size": 2})
    for r in (0, 1):
        subprocess.run([sys.executable, "-c", code], env={**env, "RANK": str(r)}, check=True)
    assert store.metric_keys(rid) == ["loss", "rank0/loss", "rank1/loss"]
    assert store.metric_array(rid, "rank1/loss").shape == (5, 3)


def test_rank_states_per_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DII_HPC_ATTEMPT", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert ranks.attempt() == "77.0"
    ranks.write_state(tmp_path, 1, "failed", "ValueError: boom", "node2")
    ranks.write_state(tmp_path, 2, "done", None, "node3")
    assert sorted(ranks.read_states(tmp_path)) == [1, 2]
    assert ranks.failure(tmp_path) == "rank 1 (node2): ValueError: boom"
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the requeued attempt starts clean
    assert ranks.read_states(tmp_path) == {}
    assert ranks.wait_for(tmp_path, range(1, 3), timeout_s=0.1) == {}
    assert ranks.failure(tmp_path / "nothing") is None


def test_the_failure_is_the_rank_that_failed_not_one_srun_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """srun ends the other ranks when one fails; a rank it stopped also ends 'failed', with
    slurmstepd's CANCELLED as its last line. The run's error names the rank that failed on
    its own (it named rank 0's CANCELLED line whenever rank 0 was stopped)."""
    monkeypatch.setenv("DII_HPC_ATTEMPT", "88.0")
    ranks.write_state(tmp_path, 0, "failed", "slurmstepd-node1: error: *** STEP 88.0 ON node1 "
                      "CANCELLED AT 2026-12-06T20:51:44 ***", "node1", stopped=True)
    ranks.write_state(tmp_path, 1, "failed", "rank one gave up", "node1")
    assert ranks.failure(tmp_path) == "rank 1 (node1): rank one gave up"


def test_a_rank_ended_from_outside_is_recorded_stopped(store_path: Path, tmp_path: Path) -> None:
    """The rank wrapper marks a rank whose command it had to end for a signal (srun's, a
    cancel's) as stopped, and one whose command failed by itself as not."""
    from tests.conftest import default_signals

    store = Store(store_path)
    rid = store.create_run("cmds", status="RUNNING")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DII_HPC_STORE": str(store_path),
           "DII_HPC_RUN_ID": rid, "DII_HPC_ATTEMPT": "local-1", "WORLD_SIZE": "2"}
    waits = [sys.executable, "-m", "dii_hpc.launch.rank", "--", sys.executable, "-c",
             "import time\nprint('ready', flush=True)\ntime.sleep(120)"]
    proc = subprocess.Popen(waits, env={**env, "RANK": "0"}, stdout=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.terminate()
    assert proc.wait(timeout=60) != 0
    fails = [sys.executable, "-m", "dii_hpc.launch.rank", "--", sys.executable, "-c",
             "raise SystemExit('rank one gave up')"]
    logs = store.run_dir(rid) / "logs"  # where srun's --error puts a rank's stderr
    logs.mkdir(exist_ok=True)
    with open(logs / "rank1.err", "w") as err:
        assert subprocess.run(fails, env={**env, "RANK": "1"}, stderr=err,
                              timeout=60).returncode == 1
    states = ranks.read_states(store.run_dir(rid), "local-1")
    assert states[0]["state"] == states[1]["state"] == "failed"
    assert states[0]["stopped"] is True and states[1]["stopped"] is False
    assert ranks.failure(store.run_dir(rid)) == f"rank 1 ({states[1]['node']}): rank one gave up"
