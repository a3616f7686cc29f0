"""Shared fixtures: every test gets its own store, and no test sees the developer's store.

Tests that need something outside Python carry a marker and are skipped here, in one place,
when it is missing: ``slurm`` (a cluster that answers ``scontrol ping``: scripts/slurm-up.sh),
``mpi`` (openmpi's ``mpirun``), ``browser`` (Debian's chromium). Golden files are compared
with `check_golden`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DII = str(Path(sys.executable).with_name("dii-hpc"))
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
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("DII_HPC_STORE", str(path))
    monkeypatch.delenv("DII_HPC_RUN_ID", raising=False)
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real `dii-hpc` console script in a subprocess: exit codes and stderr as users see them."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([DII, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout)


def tree_snapshot(path: Path) -> dict[str, int]:
    """Every file under ``path`` with its size and mtime: 'store unchanged' means equal snapshots."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in sorted(path.rglob("*")) if p.is_file()}
