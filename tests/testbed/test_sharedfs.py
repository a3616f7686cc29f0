"""The store on the GlusterFS mount of `scripts/sharedfs-up.sh`: a real FUSE filesystem with
DHT link files on rename and client-side caching.  Runs written there read back, from this
process, another process and the three emulated nodes; an atomic replace is never seen torn.
Skipped when the mount is not there."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dii_hpc
from dii_hpc.store.store import Store
from tests.conftest import REPO, SHARED_MOUNT, mount_type

pytestmark = pytest.mark.sharedfs

def _env() -> dict[str, str]:
    """This process's environment (with the fixture's DII_HPC_STORE), this tree importable."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=_env(), timeout=timeout)


def test_the_store_is_on_fuse_glusterfs(shared_store: Path) -> None:
    assert mount_type(SHARED_MOUNT) == "fuse.glusterfs"
    assert shared_store.is_relative_to(SHARED_MOUNT)
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(SHARED_MOUNT)], capture_output=True,
                        text=True, check=True).stdout.strip()
    assert fs.startswith("fuse"), fs


def test_a_run_is_created_and_read_back_by_another_process(shared_store: Path) -> None:
    with dii_hpc.start_run("shared", params={"lr": 0.1}) as run:
        for step in range(500):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_dict("result.json", {"ok": True})
    store = Store(shared_store)
    record = store.run(run.id)
    assert record["status"] == "FINISHED" and record["params"] == {"lr": 0.1}
    steps = store.metric_array(run.id, "loss")[:, 0]
    assert list(steps) == list(range(500))
    # A second process has its own view of the mount: no in-process cache helps it.
    out = _python("import sys; from dii_hpc.store.store import Store; s = Store(sys.argv[1]); "
                  "r = s.run(sys.argv[2]); a = s.metric_array(sys.argv[2], 'loss'); "
                  "print(r['status'], len(a), int(a[:, 0].max()), sorted(s.artifacts(sys.argv[2])))",
                  str(shared_store), run.id)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split(None, 3) == ["FINISHED", "500", "499", "['result.json']"]


WRITER = """
import sys
from dii_hpc.store.atomic import write_json
for v in range(int(sys.argv[2])):
    write_json(sys.argv[1], {"v": v, "pad": "x" * 8192})
"""


def test_an_atomic_replace_is_never_seen_torn_by_a_second_process(shared_store: Path) -> None:
    """What GlusterFS does promise: every read that succeeds sees one whole version, versions
    never go back, and the last one is what a reader sees once the writer is done.  What it
    does not: while a file is being replaced, a concurrent open may fail with ENOENT or ESTALE
    (the DHT rename of temp over target; here about once in 10,000 reads), so a store reader
    on a shared filesystem has to retry those rather than take the file for missing."""
    target = shared_store / "state.json"
    target.parent.mkdir(parents=True)
    total = 300
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(total)], env=_env(),
                              stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    while writer.poll() is None:
        try:
            text = target.read_text()
        except OSError as err:
            assert err.errno in (errno.ENOENT, errno.ESTALE), err
            continue
        seen.append(json.loads(text)["v"])   # a torn write would not parse
    assert writer.returncode == 0, writer.stderr.read()
    assert seen, "the reader never saw the file"
    assert seen == sorted(seen), "a reader went back to an older version"
    assert json.loads(target.read_text())["v"] == total - 1
    # Every temp file was renamed away: the folder holds the target only.
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


@pytest.mark.slurm
@pytest.mark.multinode
def test_runs_written_on_three_nodes_read_back_here(cluster_nodes: list[str], shared_store: Path) -> None:
    # Three independent writers, not the ranks of one task (those share one run, see
    # tests/launch/test_multinode.py): each process says it is the rank-0 writer of its own run.
    code = ("import os, dii_hpc\n"
            "with dii_hpc.start_run('nodes', params={'node': os.environ['SLURMD_NODENAME']},\n"
            "                       rank=0) as run:\n"
            "    run.log_metrics({'rank': int(os.environ['SLURM_PROCID'])}, step=0)\n")
    out = subprocess.run(["srun", "--quiet", "-t", "2", "-N3", "-n3", "--ntasks-per-node=1",
                          sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=180)
    assert out.returncode == 0, out.stderr
    runs = Store(shared_store).runs("nodes")
    assert sorted(runs["params.node"]) == cluster_nodes
    assert set(runs["status"]) == {"FINISHED"}
    assert sorted(runs["metrics.rank"]) == [0, 1, 2]
