"""The words every package shares: run statuses and result kinds.

One place, so that the store, the Slurm reconciliation, the launcher, the report and the
config schema cannot disagree on what "finished" or "still running" means.  Statuses are
plain strings (they are what run.json holds and what users type in ``--filter``).
"""

from __future__ import annotations

PENDING = "PENDING"
RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"  # SIGTERM/SIGINT reached the run itself
TIMEOUT = "TIMEOUT"
PREEMPTED = "PREEMPTED"
CANCELLED = "CANCELLED"  # scancel / dii-hpc cancel
OUT_OF_MEMORY = "OUT_OF_MEMORY"
NODE_FAIL = "NODE_FAIL"
PRUNED = "PRUNED"  # an adaptive sweep's pruner stopped the trial early: a result, not a failure

#: Statuses in display order: what is moving first, then success, then the ways to fail.
STATUSES: tuple[str, ...] = (RUNNING, PENDING, FINISHED, PRUNED, FAILED, KILLED, TIMEOUT,
                             PREEMPTED, CANCELLED, OUT_OF_MEMORY, NODE_FAIL)
ACTIVE: frozenset[str] = frozenset({PENDING, RUNNING})
TERMINAL: frozenset[str] = frozenset(STATUSES) - ACTIVE
#: Ends that are a result: the run did what was asked (a pruned trial was told to stop).
SUCCESSFUL: frozenset[str] = frozenset({FINISHED, PRUNED})
#: Terminal statuses that are not a success: what `resubmit --failed` picks up.
UNSUCCESSFUL: frozenset[str] = TERMINAL - SUCCESSFUL
#: Statuses a run of ours can end with by itself; the others come from the scheduler.
RUN_ENDINGS: frozenset[str] = frozenset({FINISHED, PRUNED, FAILED, KILLED, CANCELLED})

#: What a run is the result of; each kind may carry a section of its own in run.json.
KINDS: tuple[str, ...] = ("train", "audit", "drift", "inference")


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL


def is_active(status: str | None) -> bool:
    return status in ACTIVE
