"""`drift check --executor slurm`: one array task per shard, then a dependent merge job.

Each array task profiles one file (`profile_task`: bounded memory, a batch at a time) into the
submission's folder of the store (`<store>/jobs/<id>/sketches/`, which every node shares) and
reports its rows, seconds and peak resident memory. The merge job, held by Slurm with
``--dependency=afterok:<array>``, reads the profiles one at a time, merges them and compares
(`merge_task`): the merge and the tests never see a row. This process waits for both (a failed
task cancels the rest and is named with its exception, as audit arrays do), then the check goes
on as every check does (`drift.check.run`: the run, the alert, the JSON). Jobs are built by
`launch.backend` like every job dii-hpc sends; the record `<store>/jobs/<id>.json` lets
`dii-hpc cancel`/`status` see them.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import codec
from dii_hpc.drift.sketch.compare import section_of
from dii_hpc.drift.sketch.profile import TableSketch, profile_file
from dii_hpc.records.drift import DriftSection

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

TIME_LIMIT = "60"  # minutes per task; the partition's limit applies anyway


@dataclass(frozen=True)
class MergeSpec:
    """What the merge job needs: the profiles of each side (a reference given as one profile
    file when it is a monitor's), the options, the sides' names."""

    reference: list[str]
    current: list[str]
    options: dict[str, Any]
    ref_name: str
    cur_name: str


def profile_task(path: str, out: str, categorical: list[str], ignore: list[str],
                 k: int) -> dict[str, Any]:
    """Array task body: the profile of one file, written to ``out``; what it cost."""
    t0 = time.perf_counter()
    prof = profile_file(path, categorical, ignore, k)
    codec.write(out, prof)
    use = resource.getrusage(resource.RUSAGE_SELF)
    return {"file": path, "rows": prof.rows, "seconds": round(time.perf_counter() - t0, 3),
            "cpu_s": round(use.ru_utime + use.ru_stime, 3),
            "peak_rss_mb": round(use.ru_maxrss / 1024.0, 1), "host": _node(),
            "task": os.environ.get("SLURM_ARRAY_TASK_ID")}


def _node() -> str:
    """The Slurm node a task ran on (several emulated nodes may share one host name)."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def _merged(paths: list[str]) -> TableSketch:
    merged = codec.read(paths[0])
    for p in paths[1:]:
        merged.merge(codec.read(p))
    return merged


def merge_task(spec: MergeSpec) -> dict[str, Any]:
    """Merge job body: both sides merged, compared; the section's JSON and the job's peak memory."""
    opt = DriftOptions.from_mapping(spec.options, "drift check options")
    section = section_of(_merged(spec.reference), _merged(spec.current), opt, spec.ref_name,
                         spec.cur_name)
    return {"section": section.dump(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "host": _node()}


def _submission(store: Store | None) -> tuple[Store, str, Path]:
    from dii_hpc.store.ids import new_run_id
    from dii_hpc.store.store import Store

    store = store or Store()
    store.ensure_writable()
    sid = new_run_id()
    return store, sid, store.jobs_dir / sid


def _record(store: Store, sid: str, kind: str, jobs: list[Any], plan: Path) -> None:
    from dii_hpc.launch.submit import SubmitResult, record_jobs

    res = SubmitResult(sid, "drift", kind, [], "", plan_file=plan)
    res.arrays = sorted({str(j.job_id).split("_")[0] for j in jobs}, key=lambda x: (len(x), x))
    record_jobs(store, res)


def check(ref: TableSketch | list[Path], cur: list[Path], opt: DriftOptions, ref_name: str,
          cur_name: str, store: Store | None) -> DriftSection:
    """Profile every file as one array task, merge and compare in a dependent job; wait."""
    from dii_hpc.config.schema import Resources
    from dii_hpc.launch import backend, waiting
    from dii_hpc.store.atomic import write_json

    store, sid, base = _submission(store)
    files = [("ref", p) for p in ([] if isinstance(ref, TableSketch) else ref)] + \
        [("cur", p) for p in cur]
    outs = [str(base / "sketches" / f"{side}-{i:05d}.sketch") for i, (side, _) in enumerate(files)]
    given = []
    if isinstance(ref, TableSketch):  # a monitor's reference: one profile already
        given = [str(base / "sketches" / "reference.sketch")]
        codec.write(given[0], ref)
    spec = MergeSpec(given + [o for o, (s, _) in zip(outs, files, strict=True) if s == "ref"],
                     [o for o, (s, _) in zip(outs, files, strict=True) if s == "cur"],
                     {**opt.to_dict(), "sketch": True}, ref_name, cur_name)
    write_json(base / "drift.json", {"what": "drift sketch check", "files": [str(p) for _, p in files],
                                     "merge": spec.__dict__})
    kind, conf = backend.choose("slurm")
    name = backend.job_name("drift", "sketch")
    array_job = backend.job(kind, base / "submitit", Resources.model_validate(
        {"time": TIME_LIMIT, "array_parallelism": len(files)}), store.root, name, conf=conf)
    n = len(files)
    jobs = backend.submit_array(backend.executor(array_job), backend.RankZero(profile_task),
                                [str(p) for _, p in files], outs, [opt.categorical] * n,
                                [opt.ignore] * n, [opt.sketch_k] * n, what="drift profile array")
    array = str(jobs[0].job_id).split("_")[0]
    try:
        merge_job = backend.job(kind, base / "submitit", Resources.model_validate(
            {"time": TIME_LIMIT}), store.root, name, conf=conf, dependency=f"afterok:{array}")
        merged = backend.submit_one(backend.executor(merge_job), backend.RankZero(merge_task),
                                    spec, what="drift merge job")
    except BaseException:
        waiting.cancel(jobs)
        raise
    _record(store, sid, kind, [*jobs, merged], base / "drift.json")
    try:
        tasks = waiting.wait(jobs, [str(p) for _, p in files], "drift profile")
    except BaseException:
        waiting.cancel([merged])
        raise
    out = waiting.wait([merged], ["merge"], "drift merge")[0]
    section = DriftSection.model_validate(out["section"])
    if section.sketch is not None:
        section.sketch.tasks = [*tasks, {"merge": True, "peak_rss_mb": out["peak_rss_mb"],
                                         "host": out["host"]}]
        section.sketch.reference_files = max(1, len(spec.reference))
        section.sketch.current_files = len(spec.current)
    return section
