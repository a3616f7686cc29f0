"""`dii-hpc cancel` on the 3-node test bed, the store on GlusterFS (#26 item 5 and a count).

(a) a running two-node `dii-hpc run` ends CANCELLED (the ranks the cancel killed made it
    FAILED, with srun's "STEP ... CANCELLED" as its error), every point logged before it stored;
(b) cancelling an adaptive sweep of two workers (one 2-task array) says 2 Slurm jobs, not 4
    (each worker was counted again through its trial's run).
Needs `scripts/slurm-up.sh --nodes 3` and `scripts/sharedfs-up.sh`; skipped otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dii_hpc.store.store import Store
from tests.conftest import run_cli, wait_until
from tests.launch.fixtures import progress

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slurm, pytest.mark.multinode, pytest.mark.sharedfs]

# Every rank runs it; rank 0 notes each step it logged (the other ranks' logging is silent).
RANKS_SCRIPT = """
import os, sys, time
import dii_hpc

rank = int(os.environ.get("SLURM_PROCID", "0"))
out = open(sys.argv[1], "a", buffering=1) if rank == 0 else None
for step in range(100_000):
    dii_hpc.log_metric("x", float(step), step=step)
    if out is not None:
        out.write(f"{step}\\n")
    time.sleep(0.05)
"""


def test_a_cancelled_two_node_run_ends_cancelled(cluster_nodes: list[str], shared_store: Path,
                                                 tmp_path: Path) -> None:
    script, marks = tmp_path / "ranks.py", tmp_path / "progress.txt"
    script.write_text(RANKS_SCRIPT)
    proc = run_cli("run", "--executor", "slurm", "--nodes", "2", "--sys-metrics-s", "0",
                   "--time", "10", "-e", "mn-cancel", "--", sys.executable, str(script), str(marks),
                   cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(shared_store)
    (rec,) = store.records("mn-cancel")
    logged = progress.wait_for(marks, 10, timeout=300)
    res = run_cli("cancel", rec["run_id"], cwd=REPO)
    assert res.returncode == 0 and "cancelled 1 run(s) (1 Slurm job(s)" in res.stdout, res.stdout
    wait_until(lambda: store.run(rec["run_id"])["status"] not in ("PENDING", "RUNNING"), 120,
              "the run to end")
    status = run_cli("status", "mn-cancel", cwd=REPO)  # Slurm's end of the job changes nothing
    assert status.returncode == 0, status.stderr
    rec = store.run(rec["run_id"])
    assert rec["status"] == "CANCELLED", rec
    assert rec["error"] == "cancelled by the user (dii-hpc cancel)"
    assert rec["launch"]["world_size"] == 2
    progress.assert_stored(store, rec["run_id"], "x", logged)


def test_b_cancel_of_a_study_counts_each_worker_job_once(cluster_nodes: list[str],
                                                         shared_store: Path,
                                                         tmp_path: Path) -> None:
    cfg = tmp_path / "study.yaml"
    cfg.write_text(json.dumps({
        "experiment": "study-cancel",
        "models": {"m": {"class": "tests.launch.fixtures.optimum:Bowl", "params": {"epoch_s": 1.0}}},
        "params": {"lr": 0.01, "dropout": 0.0, "width": 24, "epochs": 60},
        "resources": {"time": "10", "sys_metrics_s": 0},
        "sweep": {"optimize": {"metric": "val_score", "direction": "maximize", "n_trials": 4,
                               "parallel": 2, "seed": 0,
                               "space": {"lr": {"log_uniform": [1e-5, 1e-1]}}}}}))
    proc = run_cli("submit", str(cfg), "--executor", "slurm", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(shared_store)

    def two_trials_running() -> bool:
        runs = [r for r in store.records("study-cancel") if "trial" in r.get("tags", {})]
        return sum(r["status"] == "RUNNING" and bool((r.get("slurm") or {}).get("job_id"))
                   for r in runs) == 2

    wait_until(two_trials_running, 300, "both workers' trials to run")
    res = run_cli("cancel", "study-cancel", cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "cancelled 2 run(s) (2 Slurm job(s)" in res.stdout, res.stdout
