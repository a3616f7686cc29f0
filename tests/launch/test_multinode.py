"""Issue 15's "must show" on the 3-node test bed with the store on GlusterFS.

(a) a 2-node x 1-task DDP job of the example trains like one process, lists its 2 nodes and
world size 2, stores each metric step once; (b) a 12-task sweep spreads over the 3 nodes,
all FINISHED and joined with sacct, nothing lost; (c) a multi-node task warned mid-training
checkpoints, is requeued and resumes under the same run id; (d) a task with gpus_per_task: 1
sees CUDA_VISIBLE_DEVICES and its manifest records the allocation; (e) requests beyond the
partition are refused in one line.  Needs `scripts/slurm-up.sh --nodes 3` and
`scripts/sharedfs-up.sh` (fixtures cluster_nodes, shared_store); skipped otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dii_hpc.slurm.nodelist import expand
from dii_hpc.store.store import Store
from tests.conftest import run_cli, wait_until

REPO = Path(__file__).resolve().parents[2]
FIX = "tests.launch.fixtures"

pytestmark = [pytest.mark.slurm, pytest.mark.multinode, pytest.mark.sharedfs]


def _write(tmp_path: Path, name: str, config: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(config))
    return path


def _steps(store: Store, run_id: str, key: str) -> list[int]:
    return store.metric_array(run_id, key)[:, 0].astype(int).tolist()


def test_a_ddp_on_two_nodes_trains_like_one_process(cluster_nodes: list[str], shared_store: Path,
                                                    tmp_path: Path) -> None:
    from dii_hpc.examples.digits import Digits
    from dii_hpc.examples.digits_ddp import DDPCNN

    epochs = 6
    proc = run_cli("submit", "configs/ddp-2nodes.yaml", "--wait", "--set", f"params.epochs={epochs}",
                   "--set", "resources.sys_metrics_s=2", cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(shared_store)
    (rec,) = store.records("digits-ddp")
    assert rec["status"] == "FINISHED" and rec["slurm"]["state"] == "FINISHED"
    nodes = rec["launch"]["nodes"]
    assert rec["launch"]["world_size"] == 2 and len(set(nodes)) == 2 and set(nodes) <= set(cluster_nodes)
    assert sorted(expand(rec["slurm"]["node_list"])) == sorted(nodes)
    alone = DDPCNN(width=16).train_function(Digits().get_dataset(), None, out_dir=str(tmp_path),
                                            lr=0.003, epochs=epochs, seed=0, batch_size=64)
    assert abs(rec["metrics"]["val_acc"]["last"] - alone["val_acc"]) <= 0.02
    assert _steps(store, rec["run_id"], "train_loss") == list(range(epochs))
    # the returned val_acc is the summary's value, not one more point (#26 item 6)
    assert _steps(store, rec["run_id"], "val_acc") == list(range(epochs))
    assert rec["metrics"]["val_acc"]["returned"] is True
    sys_nodes = {k.split("/")[1] for k in store.metric_keys(rec["run_id"]) if k.startswith("sys/")}
    assert sys_nodes == set(nodes)  # each node sampled itself


def test_b_sweep_of_12_tasks_spreads_over_the_nodes(cluster_nodes: list[str], shared_store: Path,
                                                     tmp_path: Path) -> None:
    points = 5000
    cfg = _write(tmp_path, "spread", {
        "experiment": "spread", "models": {"w": {"class": f"{FIX}.models:Writer"}},
        "params": {"points": points, "pause_s": 4},
        "sweep": {"grid": {"params.pause_s": [4, 5, 6]}, "seeds": [0, 1, 2, 3]},
        "resources": {"time": "5", "array_parallelism": 12, "sys_metrics_s": 1}})
    proc = run_cli("submit", str(cfg), "--wait", cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "12 FINISHED" in proc.stdout
    store = Store(shared_store)
    records = store.records("spread")
    assert len(records) == 12 and len({r["slurm"]["job_id"].split("_")[0] for r in records}) == 1
    used: set[str] = set()
    for rec in records:
        assert rec["status"] == "FINISHED" and rec["slurm"]["state"] == "FINISHED"
        data = store.metric_array(rec["run_id"], "value")
        assert data.shape[0] == points and np.array_equal(data[:, 0], np.arange(points))
        used |= set(expand(rec["slurm"]["node_list"]))
    assert used == set(cluster_nodes)


def test_c_multinode_task_resumes_from_its_checkpoint(cluster_nodes: list[str], shared_store: Path,
                                                      tmp_path: Path) -> None:
    epochs = 8
    cfg = _write(tmp_path, "requeue", {
        "experiment": "ddp-requeue",
        "models": {"cnn": {"class": "dii_hpc.examples.digits_ddp:DDPCNN"}},
        "datasets": {"d": {"class": "dii_hpc.examples.digits:Digits"}},
        "params": {"epochs": epochs, "pause_s": 3, "seed": 0},
        "resources": {"nodes": 2, "time": "15", "sys_metrics_s": 2, "max_requeues": 3}})
    proc = run_cli("submit", str(cfg), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    store = Store(shared_store)
    (rid,) = store.run_ids("ddp-requeue")

    def logged_two_epochs() -> bool:
        return (store.run(rid).get("metrics", {}).get("train_loss") or {}).get("count", 0) >= 2

    wait_until(logged_two_epochs, 400, "two epochs before the warning", poll_s=3)
    job = store.run(rid)["slurm"]["job_id"]
    subprocess.run(["scancel", "--signal=USR2", job], check=True)  # what Slurm sends before a limit

    def finished() -> bool:
        run_cli("status", "ddp-requeue", cwd=REPO)
        return store.run(rid)["status"] == "FINISHED"

    wait_until(finished, 900, "the requeued task to finish", poll_s=5)
    rec = store.run(rid)
    assert store.run_ids("ddp-requeue") == [rid] and rec["attempts"] >= 2
    assert rec["launch"]["world_size"] == 2 and len(set(rec["launch"]["nodes"])) == 2
    resumed = store.metric_array(rid, "resumed_epoch")[:, 1]
    assert resumed.size >= 1 and resumed[0] >= 2  # the new attempt began past epoch 0
    assert _steps(store, rid, "train_loss") == list(range(epochs))  # each epoch stored once
    assert rec["manifest"]["slurm"].get("restart_count") not in (None, "0")  # this attempt's

    def joined() -> dict | None:
        run_cli("status", "ddp-requeue", cwd=REPO)
        slurm = store.run(rid).get("slurm") or {}
        return slurm if "state" in slurm else None

    slurm = wait_until(joined, 200, "the sacct record of the requeued job", poll_s=5)
    assert slurm["state"] == "FINISHED" and slurm["requeue_count"] >= 1


def test_d_gpus_per_task_sees_its_device(cluster_nodes: list[str], shared_store: Path,
                                         tmp_path: Path) -> None:
    cfg = _write(tmp_path, "gpu", {
        "experiment": "gpu", "models": {"p": {"class": f"{FIX}.ranks:RankProbe"}},
        "resources": {"gpus_per_task": 1, "time": "5", "sys_metrics_s": 0}})
    proc = run_cli("submit", str(cfg), "--wait", cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (rec,) = Store(shared_store).records("gpu")
    seen = rec["result"]["cuda_visible_devices"]
    assert seen and seen == rec["manifest"]["env"]["CUDA_VISIBLE_DEVICES"]
    assert rec["manifest"]["slurm"].get("gpus") or rec["manifest"]["slurm"].get("step_gpus")
    assert rec["slurm"]["state"] == "FINISHED"


def test_e_requests_beyond_the_partition_are_exit_2(cluster_nodes: list[str],
                                                     shared_store: Path) -> None:
    n = len(cluster_nodes)
    for args, message in [
        (["--nodes", str(n + 1)], f"nodes: {n + 1} asked, but partition 'debug' has {n} node(s)"),
        (["--gpus-per-task", "3"], "gpus_per_task: 3 GPU(s) per node asked, but nodes of "
                                   "partition 'debug' have at most 2"),
        (["--gpus", "2", "--nodes", str(n + 1)], f"has {n} node(s)"),
        (["--gres", "gpu:a100:1"], "gres: unknown gpu type 'a100'"),
        (["--gres", "tpu:1"], "gres: unknown gres 'tpu' (the cluster's GresTypes: gpu)"),
    ]:
        proc = run_cli("run", "--executor", "slurm", *args, "-e", "bad", "--", "true", cwd=REPO)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    assert not (shared_store / "experiments" / "bad").exists()


def test_f_run_command_on_two_nodes_by_two_tasks(cluster_nodes: list[str], shared_store: Path,
                                                 tmp_path: Path) -> None:
    script = tmp_path / "cmd.py"
    script.write_text("import os, time, dii_hpc\n"
                      "r = int(os.environ['SLURM_PROCID'])\n"
                      "e = dii_hpc.distributed.env()\n"
                      "assert (e.rank, e.world_size) == (r, 4), e\n"
                      "dii_hpc.log_metric('rank', r, step=0)\ntime.sleep(2)\n"
                      "print(os.environ['SLURMD_NODENAME'], r)\n")
    proc = run_cli("run", "--executor", "slurm", "--nodes", "2", "--tasks-per-node", "2",
                   "--all-ranks", "--sys-metrics-s", "0.5", "--time", "5", "-e", "cmd4",
                   "--wait", "--", sys.executable, str(script),
                   cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = Store(shared_store)
    (rec,) = store.records("cmd4")
    nodes = rec["launch"]["nodes"]
    assert rec["status"] == "FINISHED" and rec["launch"]["world_size"] == 4 and len(set(nodes)) == 2
    keys = set(store.metric_keys(rec["run_id"]))
    assert {f"rank{k}/rank" for k in range(4)} <= keys
    assert {k.split("/")[1] for k in keys if k.startswith("sys/")} == set(nodes)
    logs = store.run_dir(rec["run_id"]) / "logs"
    printed = {(logs / f"rank{k}.out").read_text().split()[0] for k in range(4)}
    assert printed == set(nodes)
