"""Integration on the real single-node cluster (scripts/slurm-up.sh): jobs really run.

Small and quick: tiny models.  Slurm may send the --signal warning up to 60 s early, so
jobs that must not see it get 5-minute limits; the time-limit test uses 2 minutes and a
30 s warning, so the warning never comes before the task has installed its handler.
Skipped when Slurm does not answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dii_hpc.launch.status import job_map
from dii_hpc.store.store import Store
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
FIX = "tests.launch.fixtures.models"


pytestmark = pytest.mark.slurm  # skipped without a cluster: tests/conftest.py


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def _status_until(experiment: str, done: set[str], timeout: float = 150) -> dict[str, str]:
    """Poll `dii-hpc status` until every run is in `done`; returns run id -> status."""
    deadline = time.time() + timeout
    while True:
        proc = run_cli("status", experiment, "--all", cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        rows = {ln.split()[0]: ln.split()[1] for ln in proc.stdout.splitlines()
                if len(ln.split()) > 1 and len(ln.split()[0]) == 26}
        if rows and set(rows.values()) <= done:
            return rows
        if time.time() > deadline:
            pytest.fail(f"runs did not reach {done}: {rows}")
        time.sleep(3)


def test_grid_sweep_is_one_array_of_finished_runs(store_path: Path, tmp_path: Path) -> None:
    cfg = _write(tmp_path, f"""
experiment: grid
models: {{q: {{class: "{FIX}:Quadratic", params: {{width: 2}}}}}}
datasets: {{p: {{class: "{FIX}:Points"}}}}
params: {{lr: 0.1, epochs: 3}}
sweep: {{grid: {{lr: [0.1, 0.2], models.q.params.width: [2, 3]}}, seeds: [0, 1]}}
resources: {{time: "5", array_parallelism: 4, sys_metrics_s: 0}}
""")
    proc = run_cli("submit", str(cfg), "--wait", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "8 task(s)" in proc.stdout and "8 FINISHED" in proc.stdout
    store = Store(store_path)
    records = store.records("grid")
    assert len(records) == 8
    arrays = {r["slurm"]["job_id"].split("_")[0] for r in records}
    assert len(arrays) == 1  # ONE sbatch array
    for rec in records:
        assert rec["status"] == "FINISHED" and rec["metrics"]["loss"]["count"] == 3
        slurm = rec["slurm"]
        assert slurm["state"] == "FINISHED" and slurm["exit_code"] == 0
        assert slurm["node_list"] and slurm["partition"] == "debug"
        assert slurm["elapsed_s"] is not None and slurm["alloc_tres"]["cpu"] == 1
        assert slurm["queue_wait_s"] is not None and slurm["requeue_count"] == 0
        assert rec["manifest"]["slurm"]["array_job_id"] in arrays
    # Accounting off? The squeue + scontrol fallback (2 calls) knows the same recent jobs.
    from dii_hpc.slurm import commands

    before = sum(commands.CALLS.values())
    fallback = commands.query_jobs([r["slurm"]["job_id"] for r in records], use_sacct=False)
    assert sum(commands.CALLS.values()) - before == 2
    # scontrol forgets finished jobs after MinJobAge, so a loaded machine may see only some
    states = {(fallback.get(r["slurm"]["job_id"]) or {}).get("state") for r in records}
    assert "FINISHED" in states and states <= {"FINISHED", None}
    plan = next(store.jobs_dir.glob("*/plan.json"))
    script = next(plan.parent.glob("submitit/*_submission.sh"), None)
    if script is not None:
        assert "#SBATCH --array=0-7%4" in script.read_text()


@pytest.mark.slow
def test_time_limit_ends_timeout_and_checkpointable_task_resumes(store_path: Path,
                                                                 tmp_path: Path) -> None:
    cfg = _write(tmp_path, f"""
experiment: limits
models:
  forever: {{class: "{FIX}:Forever"}}
  resumable: {{class: "{FIX}:Resumable"}}
resources: {{time: "2", signal_delay_s: 30, sys_metrics_s: 0}}
""")
    proc = run_cli("submit", str(cfg), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    rows = _status_until("limits", {"FINISHED", "TIMEOUT", "FAILED", "CANCELLED"}, timeout=300)
    store = Store(store_path)
    by_model = {r["params"]["model"]: r for r in store.records("limits")}
    forever, resumable = by_model["forever"], by_model["resumable"]
    assert rows[forever["run_id"]] == "TIMEOUT" and forever["slurm"]["state"] == "TIMEOUT"
    assert resumable["status"] == "FINISHED", resumable.get("error")
    assert resumable["slurm"]["requeue_count"] >= 1 and resumable["attempts"] >= 2
    ticks = store.metric_history(resumable["run_id"], "tick")
    assert ticks["step"].is_unique and len(ticks) == ticks["step"].max() + 1
    assert resumable["metrics"]["resumed_at"]["last"] > 0  # restored state, not a fresh start


def test_scancel_and_cancel_end_cancelled(store_path: Path, tmp_path: Path) -> None:
    cfg = _write(tmp_path, f"""
experiment: cancel-me
models: {{f: {{class: "{FIX}:Forever"}}}}
sweep: {{seeds: [0, 1]}}
resources: {{time: "5", sys_metrics_s: 0}}
""")
    assert run_cli("submit", str(cfg), cwd=REPO).returncode == 0
    store = Store(store_path)
    _status_until("cancel-me", {"RUNNING"}, timeout=60)
    first, second = sorted(store.records("cancel-me"), key=lambda r: r["params"]["seed"])
    subprocess.run(["scancel", job_map(store)[first["run_id"]]["job_id"]], check=True)
    proc = run_cli("cancel", second["run_id"], cwd=REPO)
    assert proc.returncode == 0 and "1 Slurm job" in proc.stdout
    rows = _status_until("cancel-me", {"CANCELLED"}, timeout=90)
    assert set(rows.values()) == {"CANCELLED"}
    assert store.run(first["run_id"])["slurm"]["slurm_state"].startswith("CANCELLED")


def test_run_command_on_slurm_tracks_metrics_and_logs(store_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("import dii_hpc\nfor i in range(5):\n    dii_hpc.log_metric('loss', 1.0 / (i + 1), step=i)\n"
                      "print('hello from slurm')\n")
    proc = run_cli("run", "--executor", "slurm", "--time", "5", "-e", "cmds", "--wait", "--",
                   sys.executable, str(script), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(store_path)
    (rec,) = store.records("cmds")
    assert rec["status"] == "FINISHED" and rec["metrics"]["loss"]["count"] == 5
    assert rec["slurm"]["state"] == "FINISHED" and rec["params"]["exit_code"] == 0
    assert rec["manifest"]["slurm"]["job_id"] and rec["manifest"]["command"][-1] == str(script)
    logs = run_cli("logs", rec["run_id"], cwd=REPO)
    assert logs.returncode == 0 and "hello from slurm" in logs.stdout


def test_sbatch_rejection_shows_slurm_message_and_leaves_nothing(store_path: Path,
                                                                 tmp_path: Path) -> None:
    cfg = _write(tmp_path, f"""
experiment: rejected
models: {{q: {{class: "{FIX}:Quadratic"}}}}
sweep: {{seeds: [0, 1, 2]}}
resources: {{time: "1", partition: nosuchpartition}}
""")
    proc = run_cli("submit", str(cfg), cwd=REPO)
    assert proc.returncode == 3
    assert proc.stderr.startswith("dii-hpc: error: sbatch rejected the job array: invalid partition")
    assert proc.stderr.count("\n") == 1
    store = Store(store_path)
    assert not store.experiments() or store.records("rejected") == []
    assert not store.jobs_dir.exists() or not any(store.jobs_dir.iterdir())
    proc = run_cli("run", "--executor", "slurm", "--partition", "nope", "-e", "rej", "--", "true",
                   cwd=REPO)
    assert proc.returncode == 3 and "invalid partition specified: nope" in proc.stderr
    assert "rej" not in Store(store_path).experiments() or not store.records("rej")
    assert not store.jobs_dir.exists() or not any(store.jobs_dir.iterdir())


@pytest.mark.slow
def test_32_tasks_of_10000_points_lose_nothing(store_path: Path, tmp_path: Path) -> None:
    cfg = _write(tmp_path, f"""
experiment: many
models: {{w: {{class: "{FIX}:Writer"}}}}
params: {{points: 10000}}
sweep: {{seeds: {json.dumps(list(range(32)))}}}
resources: {{time: "5", sys_metrics_s: 0}}
""")
    proc = run_cli("submit", str(cfg), "--wait", cwd=REPO, timeout=400)
    assert proc.returncode == 0, proc.stderr
    store = Store(store_path)
    records = store.records("many")
    assert len(records) == 32 and {r["status"] for r in records} == {"FINISHED"}
    for rec in records:
        hist = store.metric_history(rec["run_id"], "value")
        assert len(hist) == 10_000 and hist["step"].is_unique
        assert hist["value"].sum() == sum(range(10_000))
