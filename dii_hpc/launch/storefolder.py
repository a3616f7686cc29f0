"""The launch package as the owner of the store's ``jobs/`` folder (found by ``store.owners``).

`store gc` removes a submission's folder (submitit's pickled tasks, the plan, the logs) once
nothing in it was written for the cut-off and every run its record names has ended. A
submission with no run of its own (an adaptive sweep's workers, whose trials make the runs; the
arrays an audit, a drift sketch check or a pipeline stage waits for) names none, so age alone
decided: a worker still queued after the cut-off (a week in a busy
partition), or running without writing a log line that long, lost its pickled task and plan.
This owner tells gc which of those submissions may still have a job: the scheduler is asked
once for all of them (Slurm), a local worker's process is looked up on its host. Where that
cannot be known (the scheduler does not answer, the processes ran on another host) the folder
is kept: a folder too many is a few kilobytes, a folder too few is a lost job.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dii_hpc.store.owners import FolderOwner

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.records.jobs import JobRecord

#: a job the scheduler does not list yet this long after submission may still be on its way
#: into accounting (status.VANISH_GRACE_S)
GRACE_S = 120.0


def in_use(root: Path) -> set[str]:
    """Names of the run-less submissions whose jobs may still be queued or running."""
    from dii_hpc.records import jobs
    from dii_hpc.store.store import Store

    runless = [(name, rec) for name, rec in jobs.every(Store(root)) if not rec.runs]
    slurm = [(name, rec) for name, rec in runless if rec.executor == "slurm"]
    live = {name for name, rec in runless if rec.executor == "local" and _local_live(rec)}
    return live | _slurm_live(slurm)


def _job_ids(rec: JobRecord) -> list[str]:
    return sorted({*rec.arrays, *(j for j in rec.workers.values() if j)})


def _local_live(rec: JobRecord) -> bool:
    """A process of the submission is alive, or it ran on another host (unknown: kept)."""
    if rec.host != os.uname().nodename:
        return True
    for pid in _job_ids(rec):
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            continue
        except OSError:  # alive, owned by another user
            return True
        return True
    return False


def _slurm_live(records: list[tuple[str, JobRecord]]) -> set[str]:
    """One scheduler query for every Slurm submission; all of them when it cannot answer."""
    if not records:
        return set()
    from dii_hpc.errors import SchedulerError
    from dii_hpc.slurm import commands
    from dii_hpc.vocabulary import TERMINAL

    try:
        known = commands.query_jobs([j for _, rec in records for j in _job_ids(rec)])
    except (SchedulerError, OSError):
        return {name for name, _ in records}
    states: dict[str, list[str]] = {}
    for job_id, info in known.items():
        states.setdefault(job_id.split("_")[0], []).append(str(info.get("state", "")))
    now, live = time.time(), set()
    for name, rec in records:
        ids = {j.split("_")[0] for j in _job_ids(rec)}
        unlisted = any(j not in states for j in ids)
        if any(s not in TERMINAL for j in ids for s in states.get(j, [])) or (
                unlisted and now - rec.submitted < GRACE_S):
            live.add(name)
    return live


OWNER = FolderOwner("jobs", in_use=in_use)
