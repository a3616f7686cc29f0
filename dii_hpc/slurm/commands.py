"""The few Slurm commands dii-hpc runs itself, each counted, each failing with Slurm's words.

Submission goes through submitit; what is here is the read side (one batched sacct call,
the squeue + scontrol fallback, MaxArraySize) and scancel.  `CALLS` counts every invocation so
tests and benchmarks can show that polling stays at one call per command.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
from typing import Any

from dii_hpc.errors import SchedulerError
from dii_hpc.slurm import sacct as _sacct
from dii_hpc.slurm import scontrol as _scontrol

CALLS: collections.Counter[str] = collections.Counter()


def run(cmd: list[str], timeout: float = 60.0) -> str:
    """Run one Slurm command; SchedulerError carries Slurm's own message on failure."""
    CALLS[cmd[0]] += 1
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as err:
        raise SchedulerError(f"{cmd[0]} not found: is Slurm installed on this host?") from err
    except subprocess.TimeoutExpired as err:
        raise SchedulerError(f"{cmd[0]} did not answer within {timeout:.0f}s") from err
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise SchedulerError(f"{cmd[0]} failed: {msg[-1] if msg else f'exit {proc.returncode}'}")
    return proc.stdout


def available() -> bool:
    """True when sbatch exists and the controller answers (`auto` picks Slurm then)."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return False
    try:
        run(["scontrol", "ping"], timeout=10)
    except SchedulerError:
        return False
    return True


def show_config() -> dict[str, str]:
    """`scontrol show config` parsed (one call)."""
    return _scontrol.parse_config(run(["scontrol", "show", "config"]))


def query_jobs(job_ids: list[str], use_sacct: bool = True) -> dict[str, dict[str, Any]]:
    """State of every job id in ONE sacct call; squeue + `scontrol show job` when sacct fails.

    Array tasks are asked for by their array job id ('123' covers '123_0'...'123_999').
    """
    bases = sorted({j.split("_")[0] for j in job_ids if j})
    if not bases:
        return {}
    if use_sacct:
        try:
            return _sacct.parse_sacct(run(_sacct.sacct_command(bases)))
        except SchedulerError:
            pass
    found = _scontrol.parse_show_job(run(["scontrol", "show", "job", "-o"]))
    queued = _scontrol.parse_squeue(run(["squeue", "-h", "-o", _scontrol.SQUEUE_FORMAT]))
    for job_id, rec in queued.items():
        found.setdefault(job_id, rec).update({k: v for k, v in rec.items() if v})
    wanted = set(bases)
    return {k: v for k, v in found.items() if k.split("_")[0] in wanted}


def cancel(job_ids: list[str], signal: str | None = None) -> None:
    """One scancel for all the given jobs / array tasks; with ``signal`` (e.g. "TERM") only
    that signal, to every step of each job (not its batch shell), which goes on running."""
    if job_ids:
        run(["scancel", *([f"--signal={signal}"] if signal else []), *sorted(set(job_ids))])
