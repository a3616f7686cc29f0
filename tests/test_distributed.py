"""dii_hpc.distributed: a process's place from torchrun's, Slurm's or submitit's variables."""

from __future__ import annotations

import dataclasses

import pytest

import dii_hpc
from dii_hpc.distributed import DEFAULT_PORT, DistEnv, derived_port, env, node_address


def test_single_process_defaults() -> None:
    e = env({})
    assert e == DistEnv() and e.rank == 0 and e.world_size == 1 and not e.distributed
    assert (e.master_addr, e.master_port) == ("127.0.0.1", DEFAULT_PORT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.rank = 1  # type: ignore[misc]


def test_slurm_task_of_a_two_node_job() -> None:
    slurm = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_NODEID": "1",
             "SLURM_JOB_NODELIST": "localhost,vm", "SLURM_JOB_ID": "4242"}
    e = env(slurm)
    assert (e.rank, e.local_rank, e.world_size, e.node_rank) == (3, 1, 4, 1)
    assert e.master_addr == "localhost" and e.nodes == ("localhost", "vm")
    assert e.master_port == derived_port("4242") == env({**slurm, "SLURM_PROCID": "0"}).master_port
    assert e.source == "slurm" and e.distributed and not e.is_main


def test_derived_ports_differ_between_jobs_and_stay_in_range() -> None:
    ports = {derived_port(j) for j in range(1000, 1100)}
    assert len(ports) == 100 and all(15000 <= p < 35000 for p in ports)
    assert derived_port(None) == DEFAULT_PORT


def test_torchrun_variables_win() -> None:
    e = env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "h0",
             "MASTER_PORT": "1234", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"})
    assert (e.rank, e.world_size, e.local_rank, e.master_addr, e.master_port) == (1, 2, 1, "h0", 1234)
    assert e.source == "torchrun"


def test_explicit_master_overrides_slurm() -> None:
    e = env({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "localhost",
             "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "2222"})
    assert (e.master_addr, e.master_port) == ("10.0.0.1", 2222)


def test_submitit_local_tasks() -> None:
    e = env({"SUBMITIT_LOCAL_GLOBALID": "1", "SUBMITIT_LOCAL_LOCALID": "1",
             "SUBMITIT_LOCAL_NTASKS": "2", "SUBMITIT_LOCAL_JOB_ID": "777"})
    assert (e.rank, e.world_size, e.master_addr) == (1, 2, "127.0.0.1")
    assert e.master_port == derived_port("777") and e.source == "local"


def test_a_name_that_resolves_is_kept() -> None:
    assert node_address("localhost") == "localhost"


def test_facade_exposes_the_module() -> None:
    assert dii_hpc.distributed.env({}).world_size == 1


def test_init_process_group_single_process_is_a_no_op() -> None:
    pytest.importorskip("torch")
    import torch.distributed as dist

    from dii_hpc.distributed import destroy_process_group, init_process_group

    assert init_process_group().world_size == 1 and not dist.is_initialized()
    destroy_process_group()


def test_rank_alone_follows_the_same_precedence() -> None:
    from dii_hpc.distributed import rank

    cases = [{}, {"RANK": "2", "WORLD_SIZE": "4", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"},
             {"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, {"SUBMITIT_LOCAL_GLOBALID": "3"},
             {"SLURM_PROCID": "1"}]  # no SLURM_NTASKS: not a task of a step
    assert [rank(c) for c in cases] == [env(c).rank for c in cases] == [0, 2, 1, 3, 0]


def test_one_task_needs_no_address_lookup() -> None:
    e = env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_NODELIST": "no-such-host-x1"})
    assert e.master_addr == "no-such-host-x1"


GLOO = """
import torch, torch.distributed as dist
from dii_hpc import distributed
e = distributed.init_process_group(timeout_s=60)
t = torch.tensor([float(e.rank + 1)])
dist.all_reduce(t)
print(dist.get_backend(), e.rank, e.world_size, float(t))
distributed.destroy_process_group()
"""


def test_two_processes_join_over_gloo_from_torchrun_variables() -> None:
    pytest.importorskip("torch")
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", GLOO], env={**base, "RANK": str(r),
                              "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE, text=True)
             for r in (0, 1)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == [["gloo", "0", "2", "3.0"], ["gloo", "1", "2", "3.0"]]
