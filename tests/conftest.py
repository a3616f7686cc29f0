"""Shared fixtures: every test gets its own store, and no test sees the developer's store.

Tests that need something outside Python carry a marker and are skipped here, in one place,
when it is missing: ``slurm`` (a cluster that answers ``scontrol ping``: scripts/slurm-up.sh),
``mpi`` (openmpi's ``mpirun``), ``browser`` (Debian's chromium), ``terminal`` (Debian's tmux,
which drives `dii-hpc top`). Golden files are compared
with `check_golden`.

The test bed of `make test` (scripts/slurm-up.sh --nodes 3, scripts/sharedfs-up.sh) adds two:
`cluster_nodes` (node1..node3 of the emulated cluster) and `shared_store` (a store on the
GlusterFS mount named by $DII_TEST_SHARED); each skips when its part of the bed is not up.

A test that signals a child (or whose child's children get signals) starts it with
`default_signals` as ``preexec_fn``; `run_cli` does so for every `dii-hpc` it starts.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DII = str(Path(sys.executable).with_name("dii-hpc"))
SHARED_MOUNT = Path(os.environ.get("DII_TEST_SHARED", "/mnt/dii-shared"))
TESTBED_NODES = ("node1", "node2", "node3")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GOLDEN_UPDATE = "DII_HPC_UPDATE_GOLDEN"


@functools.cache
def slurm_up() -> bool:
    """sbatch is installed and slurmctld answers (asked once per test session)."""
    if shutil.which("sbatch") is None:
        return False
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


REQUIRES: dict[str, tuple[Callable[[], bool], str]] = {
    "slurm": (slurm_up, "no Slurm cluster answers (scripts/slurm-up.sh)"),
    "mpi": (lambda: shutil.which("mpirun") is not None, "needs openmpi's mpirun"),
    "browser": (lambda: CHROMIUM is not None, "chromium is not installed"),
    "terminal": (lambda: shutil.which("tmux") is not None, "tmux is not installed"),
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (available, reason) in REQUIRES.items():
        if item.get_closest_marker(marker) is not None and not available():
            pytest.skip(reason)


def check_golden(path: Path, text: str) -> None:
    """``text`` must equal the golden file; ``DII_HPC_UPDATE_GOLDEN=1`` rewrites it first.

    Never in CI (``CI=true``): a regenerated golden file always matches, so CI would pass
    whatever the code now prints. Update it locally and let the diff be reviewed.
    """
    if os.environ.get(GOLDEN_UPDATE) == "1":
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{GOLDEN_UPDATE}=1 is refused when CI=true: regenerate {path.name} "
                        "locally and commit the reviewed diff", pytrace=False)
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs (see {GOLDEN_UPDATE} in tests/conftest.py)"


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """One torch intra-op thread for the test, restored after: tiny models on a shared CI
    machine run faster on one thread than on oversubscribed ones. A test module opts in
    with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture()
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("DII_HPC_STORE", str(path))
    monkeypatch.delenv("DII_HPC_RUN_ID", raising=False)
    return path


CHILD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)


def wait_until(check: Callable[[], Any], timeout: float, what: str, poll_s: float = 1.0) -> Any:
    """Poll ``check()`` every ``poll_s`` until it returns something truthy (returned); fail
    after ``timeout`` seconds. The poll of a wait with a deadline (Slurm, a store), not a sleep
    as synchronisation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out waiting for {what}")


def until(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll ``check()`` with backoff until it returns something true (returned); fail
    naming ``what`` after ``timeout`` seconds. How a test waits for a state it needs
    (a job started, a process gone), never a fixed sleep."""
    deadline, pause = time.monotonic() + timeout, 0.05
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(pause)
        pause = min(pause * 1.5, 2.0)
    raise AssertionError(f"timed out waiting for {what}")


def default_signals() -> None:
    """``preexec_fn`` of a child the test signals: SIGINT, SIGTERM and SIGQUIT at their
    default action, as in a terminal's foreground job.

    An ignored signal stays ignored through fork and exec: a test session started where
    SIGINT is ignored (a script's background job ``make test &``, some CI runners) would
    hand that on, Python would then install no KeyboardInterrupt handler, and the Ctrl-C a
    test sends (or `dii-hpc cancel` forwards) would do nothing."""
    for sig in CHILD_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real `dii-hpc` console script in a subprocess: exit codes and stderr as users see them."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([DII, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, preexec_fn=default_signals)


def tree_snapshot(path: Path) -> dict[str, int]:
    """Every file under ``path`` with its size and mtime: 'store unchanged' means equal snapshots."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in sorted(path.rglob("*")) if p.is_file()}


def mount_type(path: Path) -> str:
    """The filesystem type /proc/mounts gives for the mount point ``path`` ('' if none)."""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    types = [f[2] for f in (line.split() for line in lines) if len(f) > 2 and f[1] == str(path)]
    return types[-1] if types else ""


def _node_states() -> dict[str, str]:
    if shutil.which("sinfo") is None:
        return {}
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(line.split(None, 1) for line in out.stdout.splitlines() if " " in line)


@pytest.fixture(scope="session")
def cluster_nodes() -> list[str]:
    """node1..node3 of `scripts/slurm-up.sh --nodes 3`, each usable; skips on any other cluster."""
    states = _node_states()
    usable = [n for n in TESTBED_NODES if states.get(n, "").rstrip("*~#") in ("idle", "mix", "alloc")]
    if len(usable) < len(TESTBED_NODES):
        pytest.skip(f"needs the 3-node test cluster (scripts/slurm-up.sh --nodes 3); sinfo: {states}")
    return usable


@pytest.fixture()
def shared_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store folder on the GlusterFS mount, as $DII_HPC_STORE (use it instead of
    store_path); removed afterwards.  Skips when the mount is not there."""
    if mount_type(SHARED_MOUNT) != "fuse.glusterfs":
        pytest.skip(f"needs the GlusterFS mount {SHARED_MOUNT} (scripts/sharedfs-up.sh)")
    case = SHARED_MOUNT / "dii-tests" / uuid.uuid4().hex
    path = case / "store"
    monkeypatch.setenv("DII_HPC_STORE", str(path))
    monkeypatch.delenv("DII_HPC_RUN_ID", raising=False)
    yield path
    shutil.rmtree(case, ignore_errors=True)
