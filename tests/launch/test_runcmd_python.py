"""Issue 26: `python` in `dii-hpc run -- python x.py` and in a pipeline command stage is the
same one (`runcmd.command_env`): the Python running dii-hpc, whatever PATH says first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dii_hpc.records import pipeline as records
from dii_hpc.store.store import Store
from tests.conftest import DII, run_cli

WHICH = "import sys, dii_hpc; print(sys.executable)"


@pytest.fixture()
def other_python_first(tmp_path: Path) -> dict[str, str]:
    """A PATH whose first `python` is another program (a login shell's, a module's)."""
    other = tmp_path / "other-bin"
    other.mkdir()
    fake = other / "python"
    fake.write_text("#!/bin/sh\necho not-this-python\nexit 9\n")
    fake.chmod(0o755)
    return {"PATH": os.pathsep.join([str(other), os.environ.get("PATH", "")])}


def _ours(printed: str) -> bool:
    """The interpreter of the dii-hpc that ran the command (a virtualenv's bin holds both)."""
    return Path(printed.strip()).parent == Path(DII).parent


def test_run_resolves_python_to_dii_hpcs_own(store_path: Path, tmp_path: Path,
                                             other_python_first: dict[str, str]) -> None:
    proc = run_cli("run", "--executor", "local", "-e", "which", "--sys-metrics-s", "0", "--",
                   "python", "-c", WHICH, env=other_python_first, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (rec,) = Store(store_path).records("which")
    printed = (Store(store_path).run_dir(rec["run_id"]) / "logs" / "stdout.log").read_text()
    assert _ours(printed), printed


def test_a_pipeline_command_stage_resolves_python_the_same_way(
        store_path: Path, tmp_path: Path, other_python_first: dict[str, str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps({"pipeline": "which", "stages": {"py": {"command": [
        "python", "-c", WHICH.replace("print(sys.executable)",
                                      "open('{work}/py.txt', 'w').write(sys.executable)")]}}}))
    proc = run_cli("pipeline", "submit", str(path), "--executor", "local",
                   env=other_python_first, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = (records.work_dir(store_path, "which") / "py.txt").read_text()
    assert _ours(printed), printed


@pytest.mark.slurm
def test_on_slurm_a_setup_line_that_puts_another_python_first_changes_nothing(
        store_path: Path, tmp_path: Path, other_python_first: dict[str, str]) -> None:
    setup = f"export PATH={other_python_first['PATH'].split(os.pathsep)[0]}:$PATH"
    proc = run_cli("run", "--executor", "slurm", "--wait", "--setup", setup, "-e", "which",
                   "--sys-metrics-s", "0", "--", "python", "-c", WHICH, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (rec,) = Store(store_path).records("which")
    printed = (Store(store_path).run_dir(rec["run_id"]) / "logs" / "stdout.log").read_text()
    assert _ours(printed), printed
