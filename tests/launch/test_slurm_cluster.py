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
from dii_hpc.store.ids import is_run_id
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
                if len(ln.split()) > 1 and is_run_id(ln.split()[0])}  # not the header, the rule
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


def _cancel_and_check(store: Store, run_id: str, marks: Path, key: str, pid_line: bool) -> None:
    """`dii-hpc cancel RUN` once the run has logged a few points: the run itself ends CANCELLED
    (no `status` call needed) with every point logged before the cancel stored."""
    from tests.launch.fixtures import progress

    logged = progress.wait_for(marks, 12, timeout=240)[1 if pid_line else 0:]
    res = run_cli("cancel", run_id, cwd=REPO)
    assert res.returncode == 0 and "1 Slurm job" in res.stdout, res.stderr
    progress.wait_until(lambda: store.run(run_id)["status"] != "RUNNING", 30,
                        "the cancelled run to end itself")
    rec = store.run(run_id)
    assert rec["status"] == "CANCELLED" and "cancel" in rec["error"], rec
    progress.assert_stored(store, run_id, key, logged)


def test_cancel_of_a_command_run_on_slurm_keeps_its_points(store_path: Path, tmp_path: Path) -> None:
    """#14 item 3: `dii-hpc cancel` of `dii-hpc run --executor slurm -- python sleepy.py`: 25
    points printed, 20 stored; the step ran until Slurm's SIGKILL, RUNNING until `status`."""
    marks = tmp_path / "progress.txt"
    proc = run_cli("run", "--executor", "slurm", "--time", "5", "-e", "cancel-cmd", "--",
                   sys.executable, str(REPO / "tests" / "launch" / "fixtures" / "sleepy.py"),
                   str(marks), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(store_path)
    (rec,) = store.records("cancel-cmd")
    _cancel_and_check(store, rec["run_id"], marks, "x", pid_line=True)


def test_cancel_of_a_submitted_task_keeps_its_points(store_path: Path, tmp_path: Path) -> None:
    """#14 item 3: points a `submit` task logged after SIGTERM were lost (submitit ignores
    SIGTERM until Slurm's SIGKILL); the task now flushes and ends CANCELLED itself."""
    marks = tmp_path / "progress"
    marks.mkdir()
    cfg = _write(tmp_path, f"""
experiment: cancel-task
models: {{t: {{class: "{FIX}:Ticker", params: {{progress: "{marks}"}}}}}}
resources: {{time: "5", sys_metrics_s: 0}}
""")
    assert run_cli("submit", str(cfg), cwd=REPO).returncode == 0
    store = Store(store_path)
    (rec,) = store.records("cancel-task")
    _cancel_and_check(store, rec["run_id"], marks / f"{rec['run_id']}.txt", "tick", pid_line=False)


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


def test_resubmitted_command_run_gets_the_new_jobs_record(store_path: Path, tmp_path: Path) -> None:
    """#14 item 8: a failed `dii-hpc run` on Slurm is resubmitted, and its run.json then shows
    the new job (the old one is kept in slurm_attempts), not job 81 FAILED for job 83 COMPLETED."""
    marker = tmp_path / "m"
    flaky = f'if [ -e "{marker}" ]; then echo second; else touch "{marker}"; exit 1; fi'
    first = run_cli("run", "--executor", "slurm", "--time", "5", "-e", "again", "--sys-metrics-s",
                    "0", "--wait", "--", "sh", "-c", flaky, cwd=tmp_path)
    assert first.returncode == 3, first.stderr
    store = Store(store_path)
    (rec,) = store.records("again")
    old_job = rec["slurm"]["job_id"]
    assert rec["status"] == "FAILED" and "state" in rec["slurm"]
    proc = run_cli("resubmit", "again", "--failed", cwd=REPO)
    assert proc.returncode == 0 and "resubmitted 1 run(s)" in proc.stdout, proc.stderr
    assert _status_until("again", {"FINISHED", "FAILED"}) == {rec["run_id"]: "FINISHED"}
    deadline = time.time() + 120
    while "state" not in (store.run(rec["run_id"]).get("slurm") or {}) and time.time() < deadline:
        run_cli("status", "again", cwd=REPO)  # the accounting record may lag the run's end
        time.sleep(3)
    rec = store.run(rec["run_id"])
    assert rec["slurm"]["job_id"] != old_job and rec["slurm"]["state"] == "FINISHED"
    assert [a["job_id"] for a in rec["slurm_attempts"]] == [old_job]


def test_ctrl_c_of_submit_wait_says_the_jobs_keep_running(store_path: Path, tmp_path: Path) -> None:
    """#14 "smaller": Ctrl-C of `submit --wait` did not say that the Slurm jobs keep running."""
    import os
    import signal

    cfg = _write(tmp_path, f"""
experiment: waiting
models: {{f: {{class: "{FIX}:Forever"}}}}
resources: {{time: "5", sys_metrics_s: 0}}
""")
    import select

    from tests.conftest import DII, default_signals

    proc = subprocess.Popen([DII, "submit", str(cfg), "--wait"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_signals)
    try:  # its first line says the array is queued: the wait begins (no sleep to guess when)
        assert select.select([proc.stdout], [], [], 120)[0], "submit printed nothing in 120 s"
        first = proc.stdout.readline()
        assert first.startswith("submitted 1 task(s) of waiting"), (first, proc.communicate())
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        run_cli("cancel", "waiting", cwd=REPO)
    assert proc.returncode == 130, (out, err)
    assert "keep running" in err and "dii-hpc cancel waiting" in err and err.count("\n") == 1
