"""Reproducibility manifest: git state and diff, versions, allow-listed environment only."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dii_hpc.launch.manifest import allowed_env, git_info, runtime_manifest


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo,
                   check=True, capture_output=True)


def test_git_commit_dirty_flag_and_diff(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("lr = 0.1\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "commit", "-qm", "first")
    clean = git_info(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False and clean["diff"] == ""
    (tmp_path / "train.py").write_text("lr = 0.2\n")
    dirty = git_info(tmp_path)
    assert dirty["dirty"] is True and "+lr = 0.2" in dirty["diff"]
    assert git_info(tmp_path.parent / "not-a-repo-dir-xyz") == {}


def test_env_allow_list_never_leaks_secrets() -> None:
    env = {"OMP_NUM_THREADS": "4", "SLURM_JOB_ID": "12", "AWS_SECRET_ACCESS_KEY": "x",
           "HF_TOKEN": "y", "DB_PASSWORD": "z", "HOME": "/root"}
    assert allowed_env(env) == {"OMP_NUM_THREADS": "4", "SLURM_JOB_ID": "12"}
    man = runtime_manifest({**env, "SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "2",
                            "SLURM_JOB_PARTITION": "debug"})
    assert man["slurm"] == {"job_id": "12", "array_job_id": "10", "array_task_id": "2",
                            "partition": "debug"}
    assert "y" not in man["env"].values() and man["python"] and man["packages"]["submitit"]
