"""Parse `scontrol show config`, `scontrol show job -o` and `squeue` output (pure functions).

These are the fallback when accounting (sacct) is off, and the source of cluster limits such as
MaxArraySize, which decides how many sbatch arrays a sweep needs.
"""

from __future__ import annotations

import re
from typing import Any

from dii_hpc.slurm import timespec
from dii_hpc.slurm.sacct import expand_pending_array, normalise_state, parse_time

DEFAULT_MAX_ARRAY_SIZE = 1001
SQUEUE_FORMAT = "%i|%T|%r|%N|%P"


def parse_config(text: str) -> dict[str, str]:
    """'Key = value' lines of `scontrol show config` -> dict (header and blank lines skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def max_array_size(config: dict[str, str]) -> int:
    """MaxArraySize from a parsed config; the highest array index is one less."""
    raw = config.get("MaxArraySize", "")
    return int(raw) if raw.isdigit() else DEFAULT_MAX_ARRAY_SIZE


def accounting_enabled(config: dict[str, str]) -> bool:
    """True when sacct can answer (AccountingStorageType is not accounting_storage/none)."""
    kind = config.get("AccountingStorageType", "")
    return bool(kind) and not kind.endswith("/none")


_KV = re.compile(r"(\S+?)=(\S*)")


def parse_show_job(text: str) -> dict[str, dict[str, Any]]:
    """`scontrol show job -o` (one job per line) -> {job_id: record} like parse_sacct's."""
    jobs: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        kv = dict(_KV.findall(line))
        if "JobId" not in kv:
            continue
        array_job, task = kv.get("ArrayJobId"), kv.get("ArrayTaskId")
        job_ids = [kv["JobId"]]
        if array_job and task:
            job_ids = expand_pending_array(f"{array_job}_[{task}]") if not task.isdigit() \
                else [f"{array_job}_{task}"]
        code, _, sig = kv.get("ExitCode", "0:0").partition(":")
        submit, start = parse_time(kv.get("SubmitTime", "")), parse_time(kv.get("StartTime", ""))
        for job_id in job_ids:
            jobs[job_id] = {
                "job_id": job_id,
                "raw_job_id": kv["JobId"],
                "state": normalise_state(kv.get("JobState", "")),
                "slurm_state": kv.get("JobState", ""),
                "reason": kv.get("Reason", ""),
                "exit_code": int(code) if code.isdigit() else None,
                "signal": int(sig) if sig.isdigit() else None,
                "elapsed_s": timespec.parse_or_none(kv.get("RunTime", "")),
                "node_list": kv.get("NodeList", "") if kv.get("NodeList") != "(null)" else "",
                "partition": kv.get("Partition", ""),
                "submit_time": submit,
                "start_time": start,
                "end_time": parse_time(kv.get("EndTime", "")),
                "requeue_count": int(kv["Restarts"]) if kv.get("Restarts", "").isdigit() else 0,
                "time_limit_s": timespec.parse_or_none(kv.get("TimeLimit", "")),
            }
    return jobs


def parse_squeue(text: str) -> dict[str, dict[str, Any]]:
    """`squeue -h -o '%i|%T|%r|%N|%P'` -> {job_id: {state, reason, node_list, partition}}."""
    jobs: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2 or not parts[0]:
            continue
        parts += [""] * (5 - len(parts))
        for job_id in expand_pending_array(parts[0]):
            jobs[job_id] = {
                "job_id": job_id, "state": normalise_state(parts[1]), "slurm_state": parts[1],
                "reason": parts[2], "node_list": parts[3], "partition": parts[4],
            }
    return jobs
