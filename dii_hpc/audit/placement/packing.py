"""Packing short shards into fewer array tasks, so that an array pays off for small work.

Every array task pays a start cost before its first shard: Python, the imports (torch,
scikit-learn, dii-hpc: about 3 s on a laptop core) and rebuilding the model and data. Sixteen
reference models of a small MLP take 0.4 s each: one task per model spends nine tenths of the
array on starting. A packed task runs several shards one after another in one process
(model and data built once), each kept in the store as it ends, so a task that dies
mid-way leaves its finished shards for the rerun, and a shard's numbers do not depend on
its pack (each is trained under its own seed, from its own copy of the model).

How many shards a task runs (`per_task`) comes from two measured times:
- the shard's (`shard_s`): a recorded time of the same work (reference models keep theirs
  in `model.json`), else one shard measured in the submitting process;
- the start cost (`start_s`): measured by every packed array (submission to the first task
  ready to work, the quickest task's) and kept per executor kind in
  `<store>/cache/array-start.json`; `DEFAULT_START_S` until an array measured it.
A task runs enough shards that its start is at most `START_SHARE` of its time, but never so
many that fewer tasks than free cores (`slots`) would be left idle.

Whether an array pays at all (`choose`) comes from the same numbers: on this host, fresh
processes (each paying `start_s`), workers forked from the submitting process (`forked`,
paying `fork_s`, kept under the kind "forked") or one shard after another here; the
cheapest estimate wins, in one line that says why ($DII_HPC_PLACEMENT forces one: a
model whose code is not fork-safe, a test of one mechanism). On Slurm the array is the only place
(the submitting host is no compute node); the line says when its start costs more than
the array saves, with the figures.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_START_S = 3.0  # Python + torch + scikit-learn imports on one core, before any record
DEFAULT_FORK_S = 0.05  # a worker forked from the submitting process, before any record
START_SHARE = 0.1  # a task's start cost at most this share of its time
START_FILE = "array-start.json"


def per_task(n: int, shard_s: float | None, start_s: float, slots: int) -> int:
    """Shards per task: enough that the start is at most `START_SHARE` of a task's time,
    at most what leaves a task per free slot; one when the shard time is unknown.

    The tasks run in rounds of `slots`; packing `wanted` per task and leaving the remainder
    to a last task can add a round for a sliver (15 shards, 2 slots, 7 per task: 7 + 7 in
    the first round, 1 shard alone in a second that pays the start again). So the shards
    are spread evenly over as many rounds as still give every task `wanted` of them."""
    if n <= 1 or shard_s is None or shard_s <= 0:
        return 1
    wanted = max(1, math.ceil(start_s / (START_SHARE * shard_s)))  # 1 for a free start
    width = max(1, min(slots, n))
    rounds = max(1, n // (width * wanted))  # the most rounds that keep `wanted` per task
    return max(1, math.ceil(n / (rounds * width)))


@dataclass(frozen=True)
class Choice:
    """Where the shards run: ``how`` is "array" (fresh task processes; with ``cpus`` > 1
    each task holds that many CPUs and forks a worker per CPU), "forked" (workers forked
    from this process) or "here" (one after another in this process)."""

    how: str
    per_task: int
    tasks: int
    estimate_s: float  # start + the longest task's shards
    line: str = ""  # the choice and why, for the user
    cpus: int = 1


def _array(n: int, shard_s: float, start_s: float, slots: int, cpus: int = 1) -> Choice:
    """Fresh tasks of ``cpus`` CPUs (a forked worker each): one CPU, packed by `per_task`;
    several, as few tasks as the free slots hold, their shards over the workers."""
    if cpus <= 1:
        k = per_task(n, shard_s, start_s, slots)
        tasks = math.ceil(n / k)  # in rounds of `slots` at once, each paying the start
        return Choice("array", k, tasks, math.ceil(tasks / slots) * (start_s + k * shard_s))
    tasks = max(1, math.ceil(min(slots, n) / cpus))
    k = math.ceil(n / tasks)
    rounds = math.ceil(tasks / max(1, slots // cpus))
    return Choice("array", k, tasks, rounds * (start_s + math.ceil(k / cpus) * shard_s),
                  cpus=cpus)


def choose(n: int, shard_s: float | None, start_s: float, slots: int, kind: str,
           fork_s: float | None = None, forced: str | None = None, node_cpus: int = 1,
           held_s: float | None = None) -> Choice:
    """The cheapest placement of ``n`` shards of ``shard_s`` each by its estimate (start +
    the busiest task's shards, per round of tasks the slots hold; a tie goes to fewer
    tasks: fewer starts). On Slurm the array: one-CPU tasks or tasks holding up to
    ``node_cpus`` CPUs that fork a worker per CPU (their start ``held_s``, measured apart
    under the kind "slurm-held": a task of several CPUs may wait longer); on this host (``kind`` local) also forked
    workers (``fork_s``: their start, None where forking is unsafe) and this process alone.
    Unknown shard time: an array of one shard per task. ``forced`` ($DII_HPC_PLACEMENT:
    array, forked or here) takes that one where it is possible."""
    if forced not in (None, "array", "forked", "here"):
        from dii_hpc.errors import BadInput

        raise BadInput(f"DII_HPC_PLACEMENT={forced}: expected array, forked or here")
    slots = max(1, slots)
    if shard_s is None or shard_s <= 0:
        return Choice("array", 1, n, math.nan, f"{n} shards of unknown time: one per array task")
    array, here = _array(n, shard_s, start_s, slots), Choice("here", n, 1, n * shard_s)
    options = [array]
    if kind == "slurm" and min(node_cpus, slots, n) > 1:
        options.append(_array(n, shard_s, start_s if held_s is None else held_s, slots,
                              min(node_cpus, slots, n)))
    if kind != "slurm":
        options.append(here)
        if fork_s is not None:
            w = min(slots, n)
            options.append(Choice("forked", math.ceil(n / w), w,
                                  fork_s + math.ceil(n / w) * shard_s))
    best = min(options, key=lambda c: (c.how != forced, c.estimate_s, c.tasks))
    fresh = min(o.estimate_s for o in options if o.how == "array")
    why = (f"{n} shards of {shard_s:.2f} s, {slots} free slots; a fresh task starts in "
           f"{start_s:.2f} s: an array of fresh tasks {fresh:.1f} s vs "
           f"{here.estimate_s:.1f} s one after another"
           + ("" if fresh < here.estimate_s else " (its start costs more than it saves)"))
    if fork_s is not None and kind != "slurm":
        why += f", forked workers (start {fork_s:.2f} s) {options[-1].estimate_s:.1f} s"
    if forced:
        why += f"; DII_HPC_PLACEMENT={forced}"
    cpus = f", {best.cpus} CPUs and forked workers each" if best.cpus > 1 else ""
    return Choice(best.how, best.per_task, best.tasks, best.estimate_s,
                  f"{best.how} ({best.tasks} x {best.per_task}{cpus}): {why}", best.cpus)


def node_cpus(partition: str | None = None) -> int:
    """The most idle CPUs of one node (one `sinfo`): the most one task can hold at once."""
    from dii_hpc.errors import SchedulerError
    from dii_hpc.slurm import commands

    cmd = ["sinfo", "-h", "-N", "-o", "%C"] + (["-p", partition] if partition else [])
    try:  # "allocated/idle/other/total" per node line
        idle = [int(line.split("/")[1]) for line in commands.run(cmd).split() if "/" in line]
    except (SchedulerError, ValueError, IndexError):
        return 1
    return max([1, *idle])


def pack(items: Sequence[T], k: int) -> list[list[T]]:
    """``items`` in order, ``k`` per task; the tasks balanced (sizes differ by at most one)."""
    if not items:
        return []
    tasks = math.ceil(len(items) / max(1, k))
    size, extra = divmod(len(items), tasks)
    out, at = [], 0
    for t in range(tasks):
        step = size + (1 if t < extra else 0)
        out.append(list(items[at:at + step]))
        at += step
    return out


def free_slots(kind: str, partition: str | None = None, cpus_per_task: int = 1,
               parallelism: int | None = None) -> int:
    """Tasks that can run at once: the array's `array_parallelism` when the config sets it,
    else this host's cores (local executor) or the partition's idle CPUs (one `sinfo`)."""
    if parallelism:
        return max(1, parallelism)
    if kind != "slurm":
        return max(1, len(os.sched_getaffinity(0)) // max(1, cpus_per_task))
    from dii_hpc.errors import SchedulerError
    from dii_hpc.slurm import commands

    cmd = ["sinfo", "-h", "-o", "%C"] + (["-p", partition] if partition else [])
    try:  # "allocated/idle/other/total" per partition line
        idle = sum(int(line.split("/")[1]) for line in commands.run(cmd).split() if "/" in line)
    except (SchedulerError, ValueError, IndexError):
        return 1
    return max(1, idle // max(1, cpus_per_task))


def _path(store_root: Path) -> Path:
    return Path(store_root) / "cache" / START_FILE


def start_cost(store_root: Path, kind: str) -> tuple[float, bool]:
    """(seconds, whether measured) of a task's start under executor ``kind`` ("forked":
    a worker forked from the submitting process)."""
    from dii_hpc.store.atomic import read_json

    path = _path(store_root)
    try:
        entry = read_json(path).get(kind) if path.exists() else None
    except (OSError, ValueError):
        entry = None
    if isinstance(entry, dict) and isinstance(entry.get("start_s"), (int, float)):
        return float(entry["start_s"]), True
    return DEFAULT_FORK_S if kind == "forked" else DEFAULT_START_S, False


def record_start(store_root: Path, kind: str, seconds: float) -> None:
    """Keep the latest measured start cost of ``kind`` (last writer wins: any recent
    measurement sizes the next array as well as another)."""
    from dii_hpc.store.atomic import read_json, write_json

    path = _path(store_root)
    try:
        known = read_json(path) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    known[kind] = {"start_s": round(seconds, 3), "measured_at": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, known)


def measured_start(submitted: float, results: Sequence[dict[str, Any]]) -> float | None:
    """The array's start cost: from its submission to the quickest task being ready to
    work (its ``ready`` wall time, after imports and building the model and data)."""
    ready = [r["ready"] for r in results if isinstance(r, dict) and "ready" in r]
    return max(0.0, min(ready) - submitted) if ready else None
