"""Multi-rank tasks on today's one-node cluster: one run per task, every rank runs the model.

A 1-node x 2-task job is the smallest that is really distributed (two srun tasks, Slurm's
rank variables, gloo over the node's address); the 3-node cases are in test_multinode.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dii_hpc.store.store import Store
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
PROBE = "tests.launch.fixtures.ranks:RankProbe"


def _slurm_up() -> bool:
    if shutil.which("sbatch") is None:
        return False
    return subprocess.run(["scontrol", "ping"], capture_output=True).returncode == 0


def _partition_cpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%C"], capture_output=True, text=True).stdout
    return int(out.split("/")[-1]) if out.strip() else 0  # A/I/O/T: total CPUs


pytestmark = [pytest.mark.slurm,
              pytest.mark.skipif(not _slurm_up(), reason="no Slurm cluster (scripts/slurm-up.sh)")]


def _config(tmp_path: Path, name: str, params: dict, **tracking: bool) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps({
        "experiment": name, "models": {"p": {"class": PROBE}}, "params": params,
        "resources": {"tasks_per_node": 2, "cpus_per_task": 1, "time": "5", "sys_metrics_s": 0.5},
        "tracking": tracking}))
    return path


def _status_line(experiment: str, timeout: float = 200) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = run_cli("status", experiment, "--all", cwd=REPO).stdout
        if "FAILED" in out or "FINISHED" in out:
            return out
        time.sleep(3)
    pytest.fail(f"{experiment} did not end: {out}")


@pytest.mark.skipif(_partition_cpus() < 2, reason="needs 2 CPUs on the partition")
def test_two_tasks_run_the_model_on_both_ranks_as_one_run(store_path: Path, tmp_path: Path) -> None:
    proc = run_cli("submit", str(_config(tmp_path, "ranks2", {"collective": True}, all_ranks=True)),
                   "--wait", cwd=REPO, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(store_path)
    (rec,) = store.records("ranks2")
    assert rec["status"] == "FINISHED" and rec["launch"]["world_size"] == 2
    assert rec["launch"]["nodes"] and rec["slurm"]["state"] == "FINISHED"
    keys = store.metric_keys(rec["run_id"])
    assert {"rank0/rank", "rank1/rank", "rank0/allreduce", "rank1/allreduce"} <= set(keys)
    assert store.metric_array(rec["run_id"], "rank1/rank")[:, 1].tolist() == [1.0, 1.0, 1.0]
    assert store.metric_array(rec["run_id"], "rank0/world")[:, 1].tolist() == [2.0, 2.0, 2.0]
    assert store.metric_array(rec["run_id"], "rank1/allreduce")[0, 1] == 3.0  # 1 + 2 over gloo
    assert rec["metrics"]["rank1/rank"]["count"] == 3  # rank 0 folded rank 1's arrays in
    assert any(k.startswith("sys/") and k.count("/") == 2 for k in keys)
    logs = {p.name for p in (store.run_dir(rec["run_id"]) / "logs").iterdir()}
    assert {"rank0.out", "rank0.err", "rank1.out", "rank1.err", "stdout.log"} <= logs


@pytest.mark.skipif(_partition_cpus() < 2, reason="needs 2 CPUs on the partition")
def test_silent_ranks_by_default(store_path: Path, tmp_path: Path) -> None:
    proc = run_cli("submit", str(_config(tmp_path, "silent", {})), "--wait", cwd=REPO, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(store_path)
    (rec,) = store.records("silent")
    assert store.metric_array(rec["run_id"], "rank")[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert not [k for k in store.metric_keys(rec["run_id"]) if k.startswith("rank1")]


@pytest.mark.skipif(_partition_cpus() < 2, reason="needs 2 CPUs on the partition")
def test_a_rank_that_dies_fails_the_job_with_its_error(store_path: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, "dies", {"fail_rank": 1, "collective": True})
    proc = run_cli("submit", str(cfg), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = _status_line("dies")
    assert "FAILED" in out and "rank 1" in out and "ValueError: boom on rank 1" in out, out
    (rec,) = Store(store_path).records("dies")
    assert rec["status"] == "FAILED" and "boom on rank 1" in rec["error"]


@pytest.mark.skipif(_partition_cpus() < 2, reason="needs 2 CPUs on the partition")
def test_run_command_on_every_rank_through_srun(store_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "rank.py"
    script.write_text("import os, dii_hpc\n"
                      "r = int(os.environ['SLURM_PROCID'])\n"
                      "dii_hpc.log_metric('rank', r, step=0)\nprint('hello from', r)\n")
    proc = run_cli("run", "--executor", "slurm", "--tasks-per-node", "2", "--all-ranks",
                   "--time", "5", "--sys-metrics-s", "0.5", "-e", "cmdranks", "--wait", "--",
                   sys.executable, str(script), cwd=REPO, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(store_path)
    (rec,) = store.records("cmdranks")
    assert rec["status"] == "FINISHED" and rec["launch"]["world_size"] == 2
    assert {"rank0/rank", "rank1/rank"} <= set(store.metric_keys(rec["run_id"]))
    logs = store.run_dir(rec["run_id"]) / "logs"
    assert (logs / "rank1.out").read_text().strip() == "hello from 1"
    bad = tmp_path / "bad.py"
    bad.write_text("import os, sys\nif os.environ['SLURM_PROCID'] == '1':\n"
                   "    raise SystemExit('rank one gave up')\n")
    proc = run_cli("run", "--executor", "slurm", "--tasks-per-node", "2", "--time", "5",
                   "-e", "cmdfail", "--wait", "--", sys.executable, str(bad), cwd=REPO, timeout=400)
    assert proc.returncode == 3
    (rec,) = store.records("cmdfail")
    assert rec["status"] == "FAILED" and "rank 1" in rec["error"] and "rank one gave up" in rec["error"]


def test_requests_the_partition_cannot_hold_are_exit_2(store_path: Path) -> None:
    nodes = len(subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True,
                               text=True).stdout.split())
    cases = [
        (["--nodes", str(nodes + 4)], f"nodes: {nodes + 4} asked, but partition"),
        (["--gpus-per-task", "64"], "gpus_per_task: 64 GPU(s) per node asked"),
        (["--gres", "tpu:1"], "gres: unknown gres 'tpu'"),
        (["--tasks-per-node", "0"], "--tasks-per-node 0: must be at least 1"),
        (["--gpus", "1", "--gpus-per-task", "1"], "give gpus (per node) or gpus_per_task"),
    ]
    for args, message in cases:
        proc = run_cli("run", "--executor", "slurm", *args, "-e", "bad", "--", "true", cwd=REPO)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (store_path / "experiments" / "bad").exists()
