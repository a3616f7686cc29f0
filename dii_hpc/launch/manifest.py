"""Reproducibility manifest: code version, environment, Slurm ids, resolved config, seeds.

Environment variables come only from an allow-list (and never a name that looks like a
secret), so a manifest can be shared without leaking tokens or passwords.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PACKAGES = ("dii-hpc", "numpy", "torch", "adversarial-robustness-toolbox", "scikit-learn",
            "pandas", "zarr", "submitit", "pydantic", "scipy", "h5py")
ENV_ALLOW = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED",
             "CUBLAS_WORKSPACE_CONFIG", "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID",
             "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST",
             "SLURM_CPUS_PER_TASK", "SLURM_MEM_PER_NODE", "SLURM_RESTART_COUNT",
             "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_PER_TASK", "GPU_DEVICE_ORDINAL",
             "SLURM_CLUSTER_NAME", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV", "LANG", "TZ")
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|PASSWD|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
SLURM_IDS = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
             "array_task_id": "SLURM_ARRAY_TASK_ID", "partition": "SLURM_JOB_PARTITION",
             "restart_count": "SLURM_RESTART_COUNT", "node_list": "SLURM_JOB_NODELIST",
             "nodes": "SLURM_JOB_NUM_NODES", "ntasks": "SLURM_NTASKS",
             "gpus": "SLURM_JOB_GPUS", "step_gpus": "SLURM_STEP_GPUS"}  # the GPU allocation


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_output(args: list[str], cwd: str | Path = ".") -> str | None:
    """stdout of `git ARGS` in ``cwd``, None when git fails or is absent."""
    return _git(args, Path(cwd).resolve())


def git_info(cwd: str | Path = ".") -> dict[str, Any]:
    """{commit, dirty, branch, diff} of the repository containing ``cwd`` (empty if none)."""
    cwd = Path(cwd).resolve()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd) or ""
    diff = _git(["diff", "HEAD"], cwd) if status.strip() else ""
    return {"commit": commit.strip(), "dirty": bool(status.strip()),
            "branch": (_git(["rev-parse", "--abbrev-ref", "HEAD"], cwd) or "").strip(),
            "root": (_git(["rev-parse", "--show-toplevel"], cwd) or "").strip(),
            "diff": diff or ""}


def package_versions() -> dict[str, str]:
    from dii_hpc.packages import versions

    return versions(PACKAGES)


def allowed_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Allow-listed variables only; anything secret-looking is dropped even if allowed."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    return {k: env[k] for k in ENV_ALLOW if k in env and not _SECRET.search(k)}


def gpu_info() -> dict[str, Any]:
    """CUDA devices when torch is already loaded (never import torch just for this)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {"cuda": torch.version.cuda, "devices": [torch.cuda.get_device_name(i)
                                                   for i in range(torch.cuda.device_count())]}


def runtime_manifest(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What is true where the task runs: host, Python, packages, Slurm ids, env, GPUs."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "packages": package_versions(),
        "slurm": {k: env[v] for k, v in SLURM_IDS.items() if v in env},
        "env": allowed_env(env),
        "gpu": gpu_info(),
        "cwd": os.getcwd(),
    }
