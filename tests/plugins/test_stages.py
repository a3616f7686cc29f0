"""A stage kind from an installed plug-in (entry point ``dii_hpc.stages`` only): listed with its
origin by `dii-hpc pipeline kinds`, run by a pipeline (local executor), and reused by its key
until the file it reads changes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

DII_HPC = str(Path(sys.executable).with_name("dii-hpc"))
ORIGIN = "dii-hpc-example-plugin 0.1.0 (dii_hpc_example_plugin.stage:CHECKSUM)"


def dii_hpc(tmp_path: Path, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra_env, "DII_HPC_STORE": str(tmp_path / "store")}
    return subprocess.run([DII_HPC, *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300, check=False)


def test_pipeline_kinds_lists_the_plugin_with_its_origin(tmp_path: Path,
                                                         plugin_env: dict[str, str]) -> None:
    res = dii_hpc(tmp_path, plugin_env, "pipeline", "kinds")
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert ORIGIN in rows["checksum"] and "hash a file" in rows["checksum"]
    assert rows["select"].split()[1] == "dii-hpc" and "sweep" in rows
    alone = dii_hpc(tmp_path, {}, "pipeline", "kinds")
    assert alone.returncode == 0 and "checksum" not in alone.stdout


def _sums(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict]:
    res = dii_hpc(tmp_path, env, "pipeline", "submit", "p.yaml", "--executor", "local")
    assert res.returncode == 0, res.stdout + res.stderr
    shown = dii_hpc(tmp_path, env, "pipeline", "status", res.stdout.split()[-1], "--format",
                    "json")
    assert shown.returncode == 0, shown.stderr
    return res, json.loads(shown.stdout)["stages"]


def test_a_pipeline_runs_the_plugin_stage_and_its_key_covers_the_file(
        tmp_path: Path, plugin_env: dict[str, str]) -> None:
    data = tmp_path / "data.txt"
    data.write_text("first\n")
    (tmp_path / "p.yaml").write_text(json.dumps({"pipeline": "sums", "stages": {
        "hash": {"checksum": {"file": "data.txt"}},
        "after": {"command": ["python", "-c", "print('hashed')"], "needs": ["hash"]}}}))
    res, stages = _sums(tmp_path, plugin_env)
    assert "2 FINISHED, 0 reused" in res.stdout
    assert stages["hash"]["kind"] == "checksum" and stages["hash"]["state"] == "FINISHED"
    assert stages["hash"]["outputs"] == {
        "file": str(data.resolve()), "algorithm": "sha256", "bytes": 6,
        "sha256": hashlib.sha256(b"first\n").hexdigest()}

    res, stages = _sums(tmp_path, plugin_env)  # nothing changed: its key has an outcome
    assert "nothing ran, 2 reused" in res.stdout and stages["hash"]["reused"]
    data.write_text("second\n")  # the file it reads changed: it runs again, and what needs it
    res, stages = _sums(tmp_path, plugin_env)
    assert "2 FINISHED, 0 reused" in res.stdout
    assert stages["hash"]["outputs"]["sha256"] == hashlib.sha256(b"second\n").hexdigest()

    alone = dii_hpc(tmp_path, {}, "pipeline", "submit", "p.yaml", "--executor", "local")
    assert alone.returncode == 2 and alone.stderr.startswith(
        "dii-hpc: error: stage hash: p.yaml:1: no kind; a stage has exactly one of audit, ")
