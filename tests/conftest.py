"""Shared fixtures: every test gets its own store, and no test sees the developer's store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DII = str(Path(sys.executable).with_name("dii-hpc"))


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


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None
