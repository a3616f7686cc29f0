"""The emulated cluster of `scripts/slurm-up.sh --nodes 3` is a cluster: jobs span node1..node3
through real slurmds, and Slurm hands out the emulated GPUs (CUDA_VISIBLE_DEVICES, job GRES,
accounting).  Skipped unless that cluster answers."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.multinode]


def _srun(*args: str, timeout: float = 120) -> list[str]:
    out = subprocess.run(["srun", "--quiet", "-t", "2", *args], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_every_node_advertises_cpus_and_two_gpus(cluster_nodes: list[str]) -> None:
    for node in cluster_nodes:
        text = subprocess.run(["scontrol", "show", "node", node], capture_output=True, text=True,
                              check=True).stdout
        assert int(re.search(r"CPUTot=(\d+)", text).group(1)) >= 2, text
        assert re.search(r"\bGres=gpu:2\b", text), text


def test_one_task_per_node_spans_node1_to_node3(cluster_nodes: list[str]) -> None:
    lines = _srun("-N3", "-n3", "--ntasks-per-node=1", "bash", "-c",
                  'echo "$SLURM_PROCID $SLURMD_NODENAME $SLURM_JOB_NODELIST"')
    by_rank = {int(r): (node, nodelist) for r, node, nodelist in (line.split() for line in lines)}
    assert sorted(by_rank) == [0, 1, 2]
    assert sorted(node for node, _ in by_rank.values()) == cluster_nodes
    assert {nodelist for _, nodelist in by_rank.values()} == {"node[1-3]"}


def test_a_gpu_job_sees_its_gpu_and_slurm_records_it(cluster_nodes: list[str]) -> None:
    # The step asks the controller about its own job: the allocation as Slurm holds it.
    lines = _srun("--gres=gpu:1", "bash", "-c",
                  'echo "CVD=$CUDA_VISIBLE_DEVICES JOB=$SLURM_JOB_ID"; scontrol show job -d "$SLURM_JOB_ID"')
    head = dict(kv.split("=", 1) for kv in lines[0].split())
    assert re.fullmatch(r"[01]", head["CVD"]), lines[0]
    detail = "\n".join(lines[1:])
    assert re.search(rf"Nodes=node[1-3] .*GRES=gpu:1\(IDX:{head['CVD']}\)", detail), detail
    assert "gres/gpu=1" in detail
    # Accounting keeps the allocation too (AccountingStorageTRES=gres/gpu); the record lands
    # shortly after the job ends.
    deadline = time.monotonic() + 30
    while True:
        tres = subprocess.run(["sacct", "-n", "-X", "-P", "-j", head["JOB"], "-o", "AllocTRES"],
                              capture_output=True, text=True).stdout
        if "gres/gpu=1" in tres or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "gres/gpu=1" in tres


def test_gpus_per_task_over_two_nodes(cluster_nodes: list[str]) -> None:
    lines = _srun("-N2", "-n4", "--ntasks-per-node=2", "--gpus-per-task=1", "bash", "-c",
                  'echo "$SLURMD_NODENAME $SLURM_LOCALID $CUDA_VISIBLE_DEVICES"')
    seen = sorted(tuple(line.split()) for line in lines)
    nodes = sorted({node for node, _, _ in seen})
    assert len(nodes) == 2 and set(nodes) <= set(cluster_nodes), seen
    # Each node's two tasks hold its two GPUs between them, one each.
    for node in nodes:
        gpus = sorted(cvd for n, _, cvd in seen if n == node)
        assert gpus == ["0", "1"], seen


def test_more_gpus_than_a_node_has_is_refused(cluster_nodes: list[str]) -> None:
    out = subprocess.run(["sbatch", "--gres=gpu:3", "--wrap", "true"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert "Requested node configuration is not available" in out.stderr
