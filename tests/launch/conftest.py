"""Stand-ins for the test bed's `cluster_nodes` / `shared_store` fixtures.

tests/conftest.py of the test-bed branch defines both; until it is merged these skip unless
the bed is up (sinfo lists node1..node3; /mnt/dii-shared is a GlusterFS mount).  Once the
root conftest has them, nothing is defined here and the root's fixtures are used.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.conftest as _root

_NODES = ("node1", "node2", "node3")
_MOUNT = Path("/mnt/dii-shared")


def _mount_type(path: Path) -> str:
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    kinds = [f[2] for f in (ln.split() for ln in lines) if len(f) > 2 and f[1] == str(path)]
    return kinds[-1] if kinds else ""


if not hasattr(_root, "cluster_nodes"):

    @pytest.fixture(scope="session")
    def cluster_nodes() -> list[str]:
        try:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True,
                                 text=True, timeout=10).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            out = []
        if not set(_NODES) <= set(out):
            pytest.skip("needs the 3-node test cluster (scripts/slurm-up.sh --nodes 3)")
        return list(_NODES)


if not hasattr(_root, "shared_store"):

    @pytest.fixture()
    def shared_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
        if _mount_type(_MOUNT) != "fuse.glusterfs":
            pytest.skip(f"needs the GlusterFS mount {_MOUNT} (scripts/sharedfs-up.sh)")
        case = _MOUNT / "dii-tests" / uuid.uuid4().hex
        monkeypatch.setenv("DII_HPC_STORE", str(case / "store"))
        monkeypatch.delenv("DII_HPC_RUN_ID", raising=False)
        yield case / "store"
        shutil.rmtree(case, ignore_errors=True)
