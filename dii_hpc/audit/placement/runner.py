"""One audit job where the user asked it to run: in this process, over MPI ranks or as a Slurm
array; then its thresholds are checked and it is persisted as a run (examples included).

The CLI (or a pipeline stage) builds the `AuditJob` and prints what `execute` returns; exit
codes stay the CLI's.
"""

from __future__ import annotations

import tempfile
from typing import Any

from dii_hpc.audit.job import AuditJob
from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.errors import BadInput


def _compute(job: AuditJob, examples: str, owner: Any) -> dict[str, Any]:
    from dii_hpc.audit.privacy.reference import training

    # reference models first, where the job runs (--executor slurm: one array), so that
    # MPI ranks and suite shards only score
    trained, model = training.prepare(job, owner)
    result = _dispatch(job, examples, training.handles(job), owner, model)
    if trained:
        result["reference_training"] = trained
    return result


def _dispatch(job: AuditJob, examples: str, scoring_only: bool, owner: Any,
              model: Predictor) -> dict[str, Any]:
    if job.executor == "slurm" and not scoring_only:
        from dii_hpc.audit.placement import slurm

        return slurm.run(job, examples_dir=examples, owner=owner, model=model)
    if job.mpi > 1:
        if not job.suite().mpi:
            from dii_hpc.audit.specs import suites

            raise BadInput(f"--mpi shards {' and '.join(s.name for s in suites() if s.mpi)} "
                           "attacks only")
        from dii_hpc.audit.placement import mpi

        return mpi.run(job.mpi, job, examples_dir=examples)
    from dii_hpc.audit import engine

    return engine.compute(job, examples_dir=examples)


def execute(job: AuditJob, *, under: list[str] | None = None, over: list[str] | None = None,
            persist: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result, threshold checks): the config's fail_under/fail_over, then ``under``/``over``
    (METRIC=VALUE items) on top; with ``persist`` the result carries its ``run_id`` (the
    run `results.AuditRun` opened while arrays computed, or a new one)."""
    from dii_hpc.audit.core import results

    floors = {**job.config.fail_under, **results.parse_thresholds(under, "--fail-under")}
    ceilings = {**job.config.fail_over, **results.parse_thresholds(over, "--fail-over")}
    with (tempfile.TemporaryDirectory(prefix="dii-hpc-audit-") as examples,
          results.AuditRun(job, persist) as owner):
        if job.array is not None:  # the chain's merge job: its shard array ended (afterany)
            from dii_hpc.audit.placement import arrays

            arrays.check_ended([list(t) for t in job.array.tasks], job.array.folder)
        result = _compute(job, examples, owner)
        checks = results.breaches(result, floors, ceilings)
        result["thresholds"] = checks
        if persist:
            result["run_id"] = results.persist(result, examples_dir=examples, run=owner.run)
    return result, checks
