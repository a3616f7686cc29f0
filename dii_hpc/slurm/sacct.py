"""Parse `sacct --parsable2` output into one accounting record per job (pure functions).

Why a parser of our own: the record that is joined into run.json must be stable across Slurm
versions and units (MaxRSS "123K"/"1.5G", TRES strings, "CANCELLED by 0", array ids "123_4",
requeued duplicates), and `dii-hpc status` must reconcile thousands of tasks from ONE call.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from dii_hpc import vocabulary as V
from dii_hpc.slurm import timespec

# Fields requested from sacct, in this order (all exist in Slurm 20.11 .. 24.x).
SACCT_FIELDS = (
    "JobID", "JobIDRaw", "JobName", "State", "ExitCode", "ElapsedRaw", "TotalCPU", "MaxRSS",
    "ReqTRES", "AllocTRES", "NodeList", "Partition", "Submit", "Start", "End", "Timelimit",
)

# Slurm job state -> run status of DEVELOPERS.md.  Unknown states keep their own name.
_STATE_MAP = {
    "COMPLETED": V.FINISHED, "FAILED": V.FAILED, "TIMEOUT": V.TIMEOUT, "DEADLINE": V.TIMEOUT,
    "CANCELLED": V.CANCELLED, "REVOKED": V.CANCELLED, "PREEMPTED": V.PREEMPTED,
    "OUT_OF_MEMORY": V.OUT_OF_MEMORY, "OOM": V.OUT_OF_MEMORY, "NODE_FAIL": V.NODE_FAIL,
    "BOOT_FAIL": V.NODE_FAIL, "PENDING": V.PENDING, "REQUEUED": V.PENDING,
    "REQUEUE_HOLD": V.PENDING, "REQUEUE_FED": V.PENDING, "RESV_DEL_HOLD": V.PENDING,
    "RUNNING": V.RUNNING, "COMPLETING": V.RUNNING, "CONFIGURING": V.RUNNING,
    "SUSPENDED": V.RUNNING, "RESIZING": V.RUNNING, "STAGE_OUT": V.RUNNING, "SIGNALING": V.RUNNING,
    "STOPPED": V.RUNNING,
}
_UNITS = {"": 1 / 1024, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}
_PENDING_ARRAY = re.compile(r"^(\d+)_\[([^\]]+)\]$")


def sacct_command(job_ids: list[str]) -> list[str]:
    """The one batched call for every job of interest (-D keeps requeued instances)."""
    return ["sacct", "--parsable2", "-D", "-o", ",".join(SACCT_FIELDS),
            "-j", ",".join(sorted(set(job_ids)))]


def normalise_state(raw: str) -> str:
    """"CANCELLED by 0" -> CANCELLED, "COMPLETED" -> FINISHED, "OUT_OF_ME+" -> OUT_OF_MEMORY."""
    word = (raw or "").strip().split(" ")[0].rstrip("+").upper()
    if word.startswith("OUT_OF_ME"):
        word = "OUT_OF_MEMORY"
    return _STATE_MAP.get(word, word or "UNKNOWN")


def parse_mem_mb(text: str) -> float | None:
    """'1234K' / '1.5G' / '512M' / '0' (sacct default unit is K) -> MiB; '' -> None."""
    text = (text or "").strip()
    if not text:
        return None
    m = re.fullmatch(r"([0-9.]+)([KMGTP]?)[nc]?", text, flags=re.IGNORECASE)
    if not m:
        return None
    return round(float(m.group(1)) * _UNITS[m.group(2).upper()], 3)


def parse_tres(text: str) -> dict[str, float]:
    """'billing=1,cpu=2,gres/gpu=1,mem=4G,node=1' -> {'cpu': 2, 'gpu': 1, 'mem_mb': 4096, ...}."""
    return dict(_parse_tres(text or ""))


@functools.lru_cache(maxsize=4096)
def _parse_tres(text: str) -> tuple[tuple[str, float], ...]:
    # Cached: the thousand tasks of an array repeat the same few TRES strings.
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if "=" not in item:
            continue
        key, value = item.split("=", 1)
        if key == "mem":
            out["mem_mb"] = parse_mem_mb(value) or 0.0
        elif key.startswith("gres/gpu"):
            out["gpu"] = out.get("gpu", 0) + (float(value) if ":" not in key else 0)
        else:
            try:
                out[key] = float(value)
            except ValueError:
                continue
    return tuple((k, int(v) if float(v).is_integer() else v) for k, v in out.items())


@functools.lru_cache(maxsize=65536)
def parse_time(text: str) -> float | None:
    """'2026-11-26T14:50:31' (local time) -> epoch seconds; 'Unknown'/'None' -> None."""
    text = (text or "").strip()
    if not text or text in {"Unknown", "None", "N/A"}:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def split_job_id(job_id: str) -> tuple[str, str | None, str | None]:
    """'123_4.batch' -> ('123_4', 'batch', '4'); '123' -> ('123', None, None)."""
    base, _, step = job_id.partition(".")
    task = base.split("_", 1)[1] if "_" in base else None
    return base, (step or None), task


def expand_pending_array(job_id: str) -> list[str]:
    """'123_[0-3,7%2]' -> ['123_0', '123_1', '123_2', '123_3', '123_7'] (pending array lines)."""
    m = _PENDING_ARRAY.match(job_id)
    if not m:
        return [job_id]
    ids: list[str] = []
    for part in m.group(2).split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        step = 1
        if ":" in hi:
            hi, st = hi.split(":")
            step = int(st)
        ids += [f"{m.group(1)}_{i}" for i in range(int(lo), int(hi or lo) + 1, step)]
    return ids


def _exit(text: str) -> tuple[int | None, int | None]:
    code, _, sig = (text or "").partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return None, None


def _job_record(row: dict[str, str], job_id: str) -> dict[str, Any]:
    code, sig = _exit(row.get("ExitCode", ""))
    req, alloc = parse_tres(row.get("ReqTRES", "")), parse_tres(row.get("AllocTRES", ""))
    submit, start = parse_time(row.get("Submit", "")), parse_time(row.get("Start", ""))
    array_job, _, task = job_id.partition("_")
    elapsed = row.get("ElapsedRaw", "")
    return {
        "job_id": job_id,
        "raw_job_id": row.get("JobIDRaw") or job_id,
        "array_job_id": array_job if task else None,
        "array_task_id": int(task) if task.isdigit() else None,
        "name": row.get("JobName", ""),
        "state": normalise_state(row.get("State", "")),
        "slurm_state": (row.get("State") or "").strip(),
        "exit_code": code,
        "signal": sig,
        "elapsed_s": float(elapsed) if elapsed.isdigit() else timespec.parse_or_none(elapsed),
        "cpu_time_s": timespec.parse_or_none(row.get("TotalCPU", "")),
        "max_rss_mb": parse_mem_mb(row.get("MaxRSS", "")),
        "req_tres": req,
        "alloc_tres": alloc,
        "gpus_requested": req.get("gpu", 0),
        "gpus_allocated": alloc.get("gpu", 0),
        "node_list": row.get("NodeList", "") if row.get("NodeList") not in ("None assigned",) else "",
        "partition": row.get("Partition", ""),
        "submit_time": submit,
        "start_time": start,
        "end_time": parse_time(row.get("End", "")),
        "queue_wait_s": (start - submit) if (start and submit) else None,
        "time_limit_s": timespec.parse_or_none(row.get("Timelimit", "")),
        "requeue_count": 0,
    }


def _merge_step(rec: dict[str, Any], row: dict[str, str]) -> None:
    """Steps (.batch, .0, .extern) carry MaxRSS and CPU; the job keeps the largest."""
    rss = parse_mem_mb(row.get("MaxRSS", ""))
    if rss is not None and (rec["max_rss_mb"] is None or rss > rec["max_rss_mb"]):
        rec["max_rss_mb"] = rss


def parse_sacct(text: str, fields: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Parse `sacct --parsable2 -D` text -> {job_id: record}.

    The header line is used when present (any field order); else ``fields`` (default
    SACCT_FIELDS).  Requeued duplicates of one job id count as `requeue_count`; the last
    instance wins.  A pending array line '123_[4-9%2]' yields one PENDING record per task.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith("JobID"):
        fields, lines = tuple(lines[0].split("|")), lines[1:]
    fields = fields or SACCT_FIELDS
    jobs: dict[str, dict[str, Any]] = {}
    placeholders: set[str] = set()  # tasks known only from a pending-array line '123_[4-9]'
    for line in lines:
        row = dict(zip(fields, line.split("|"), strict=False))
        base, step, _ = split_job_id(row.get("JobID", ""))
        if step is not None:
            if base in jobs:
                _merge_step(jobs[base], row)
            continue
        expanded = expand_pending_array(base)
        if expanded != [base]:
            # With -D the array's original pending line stays listed beside the tasks that
            # already started: it never overrides a task's own line, nor counts as a requeue.
            for job_id in expanded:
                if job_id not in jobs:
                    jobs[job_id] = _job_record(row, job_id)
                    placeholders.add(job_id)
            continue
        previous = jobs.get(base)
        rec = _job_record(row, base)
        if previous is not None and base not in placeholders:
            rec["requeue_count"] = previous["requeue_count"] + 1
        placeholders.discard(base)
        jobs[base] = rec
    return jobs
