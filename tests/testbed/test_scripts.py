"""The test-bed scripts are idempotent: called again on a bed that is up, they restart nothing
and rewrite nothing (CI and developers call them before every test run).  Needs root, as they do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_MOUNT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test-bed scripts run as root")


def _pids(name: str) -> list[str]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return sorted(out.split())


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts" / args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "DII_SLURM_QUIET": "1"})


@pytest.mark.slurm
@pytest.mark.multinode
def test_slurm_up_again_restarts_and_rewrites_nothing(cluster_nodes: list[str]) -> None:
    confs = [Path("/etc/slurm", name) for name in ("slurm.conf", "gres.conf", "slurmdbd.conf")]
    before = ([c.stat().st_mtime_ns for c in confs], _pids("slurmd"), _pids("slurmctld"))
    out = _script("slurm-up.sh", "--nodes", "3")
    assert out.returncode == 0, out.stderr
    assert "3 node(s) node[1-3]" in out.stdout.splitlines()[-1]
    assert out.stderr == ""   # quiet, and nothing to say: no restart, no stray slurmd
    assert ([c.stat().st_mtime_ns for c in confs], _pids("slurmd"), _pids("slurmctld")) == before
    assert len(before[1]) == len(cluster_nodes)   # one slurmd per emulated node


@pytest.mark.sharedfs
def test_sharedfs_up_again_keeps_the_mount(shared_store: Path) -> None:
    clients = _pids("glusterfs")
    out = _script("sharedfs-up.sh", str(SHARED_MOUNT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == str(SHARED_MOUNT)
    assert _pids("glusterfs") == clients   # the same FUSE client: not remounted
