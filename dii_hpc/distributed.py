"""Where this process sits in a distributed job, and torch.distributed set up from it.

``env()`` reads what the launcher put in the environment, in this order: torchrun's (or any
launcher's) RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; Slurm's task
variables (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_JOB_NODELIST: the rendezvous
host is the first node of the allocation, the port is derived from the job id so that two
jobs sharing a node do not collide); submitit's local executor; else a single process.

Node names need not resolve by DNS (emulated or renamed nodes): a first node whose name does
not resolve is looked up once with `scontrol show node` (its NodeAddr).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORT = 29500
PORT_BASE, PORT_SPAN = 15000, 20000  # derived ports: 15000..34999, clear of the ephemeral range


@dataclass(frozen=True)
class DistEnv:
    """One process's place: global rank, rank on its node, how many, and the rendezvous."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    node_rank: int = 0
    nodes: tuple[str, ...] = field(default_factory=tuple)
    source: str = "single"  # torchrun | slurm | local | single

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _int(environ: Mapping[str, str], *names: str, default: int = 0) -> int:
    for name in names:
        value = environ.get(name, "")
        if value.strip().lstrip("-").isdigit():
            return int(value)
    return default


def derived_port(job_id: str | int | None) -> int:
    """A port from a job id: the same on every rank of the job, different for neighbours."""
    digits = "".join(ch for ch in str(job_id or "") if ch.isdigit())
    return PORT_BASE + int(digits) % PORT_SPAN if digits else DEFAULT_PORT


@functools.lru_cache(maxsize=32)
def node_address(host: str) -> str:
    """``host`` when it resolves, else its NodeAddr from `scontrol show node` (or host)."""
    try:
        socket.getaddrinfo(host, None)
        return host
    except OSError:
        pass
    import re
    import subprocess

    try:
        out = subprocess.run(["scontrol", "show", "node", "-o", host], capture_output=True,
                             text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return host
    m = re.search(r"\bNodeAddr=(\S+)", out)
    return m.group(1) if m else host


def _slurm(environ: Mapping[str, str]) -> DistEnv:
    from dii_hpc.slurm import nodelist

    nodes = tuple(nodelist.expand(environ.get("SLURM_JOB_NODELIST")
                                  or environ.get("SLURM_NODELIST", "")))
    first = nodes[0] if nodes else (environ.get("SLURMD_NODENAME") or "127.0.0.1")
    job_id = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    world = _int(environ, "SLURM_NTASKS", "SLURM_NPROCS", default=1)
    return DistEnv(
        rank=_int(environ, "SLURM_PROCID"), local_rank=_int(environ, "SLURM_LOCALID"),
        world_size=world,
        # Only a real rendezvous needs an address that resolves (a lookup, maybe scontrol).
        master_addr=environ.get("MASTER_ADDR") or (node_address(first) if world > 1 else first),
        master_port=_int(environ, "MASTER_PORT", default=derived_port(job_id)),
        node_rank=_int(environ, "SLURM_NODEID"), nodes=nodes, source="slurm")


def _source(e: Mapping[str, str]) -> str:
    """Who launched this process, in order of precedence (see the module docstring)."""
    if "RANK" in e and "WORLD_SIZE" in e:
        return "torchrun"
    if "SLURM_PROCID" in e and ("SLURM_NTASKS" in e or "SLURM_NPROCS" in e):
        return "slurm"
    return "local" if "SUBMITIT_LOCAL_GLOBALID" in e else "single"


def rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's global rank alone: what tracking asks at every run start (no lookup)."""
    e = os.environ if environ is None else environ
    name = {"torchrun": "RANK", "slurm": "SLURM_PROCID", "local": "SUBMITIT_LOCAL_GLOBALID"}
    source = _source(e)
    return _int(e, name[source]) if source in name else 0


def env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """This process's DistEnv (see the module docstring for where each field comes from)."""
    e = os.environ if environ is None else environ
    source = _source(e)
    if source == "torchrun":
        return DistEnv(
            rank=_int(e, "RANK"), local_rank=_int(e, "LOCAL_RANK"),
            world_size=_int(e, "WORLD_SIZE", default=1),
            master_addr=e.get("MASTER_ADDR") or "127.0.0.1",
            master_port=_int(e, "MASTER_PORT", default=DEFAULT_PORT),
            node_rank=_int(e, "GROUP_RANK", "NODE_RANK"), source="torchrun")
    if source == "slurm":
        return _slurm(e)
    if source == "local":
        return DistEnv(
            rank=_int(e, "SUBMITIT_LOCAL_GLOBALID"), local_rank=_int(e, "SUBMITIT_LOCAL_LOCALID"),
            world_size=_int(e, "SUBMITIT_LOCAL_NTASKS", default=1),
            master_addr=e.get("MASTER_ADDR") or "127.0.0.1",
            master_port=_int(e, "MASTER_PORT", default=derived_port(e.get("SUBMITIT_LOCAL_JOB_ID"))),
            nodes=(socket.gethostname(),), source="local")
    return DistEnv(master_addr=e.get("MASTER_ADDR") or "127.0.0.1",
                   master_port=_int(e, "MASTER_PORT", default=DEFAULT_PORT))


def node_name(environ: Mapping[str, str] | None = None) -> str:
    """The Slurm node this process runs on (SLURMD_NODENAME), else the host name."""
    e = os.environ if environ is None else environ
    return e.get("SLURMD_NODENAME") or socket.gethostname()


def init_process_group(backend: str | None = None, timeout_s: float = 600.0,
                       **kwargs: Any) -> DistEnv:
    """torch.distributed from ``env()``: nccl when CUDA is there (one device per local rank),
    else gloo. Nothing to do for a single process or a group that is already up."""
    import datetime

    import torch
    import torch.distributed as dist

    e = env()
    if not e.distributed or dist.is_initialized():
        return e
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(e.local_rank % max(1, torch.cuda.device_count()))
    dist.init_process_group(backend, init_method=f"tcp://{e.master_addr}:{e.master_port}",
                            rank=e.rank, world_size=e.world_size,
                            timeout=datetime.timedelta(seconds=timeout_s), **kwargs)
    return e


def device() -> Any:
    """This rank's torch device: its own GPU (``local_rank`` modulo the GPUs it sees), else CPU."""
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", env().local_rank % max(1, torch.cuda.device_count()))


def destroy_process_group() -> None:
    """Leave the group (when one is up); safe to call from every rank, or without a group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
