"""One audit job where the user asked it to run: in this process, over MPI ranks or as a Slurm
array; then its thresholds are checked and it is persisted as a run (examples included).

The CLI parses the options into a job {"cfg", "level", "name", "params", "executor",
"partition"} and prints what `execute` returns; exit codes stay the CLI's.
"""

from __future__ import annotations

import tempfile
from typing import Any

from dii_hpc.errors import BadInput


def threat(job: dict[str, Any]) -> str:
    """The threat a job assesses (a suite's name, or the attack's catalogue or class path)."""
    from dii_hpc.audit import engine

    name = str(job["name"])
    if job["level"] == "I":
        return name
    if "." in name:
        return job["cfg"].get("threat") or ("privacy" if ".inference." in name else "evasion")
    return engine.threat_of(name)


def _compute(job: dict[str, Any], mpi: int, examples: str, owner: Any) -> dict[str, Any]:
    from dii_hpc.audit.privacy.reference import training as reference_training

    # reference models first, where the job runs (--executor slurm: one array), so that
    # MPI ranks and suite shards only score
    training = reference_training.prepare(job, job.get("executor", "local"), job.get("partition"),
                                          owner)
    result = _dispatch(job, mpi, examples, reference_training.handles(job), owner)
    if training:
        result["reference_training"] = training
    return result


def _dispatch(job: dict[str, Any], mpi: int, examples: str, scoring_only: bool,
              owner: Any) -> dict[str, Any]:
    if job.get("executor", "local") == "slurm" and not scoring_only:
        from dii_hpc.audit.placement import slurm as slurm_suite

        return slurm_suite.run(job, partition=job.get("partition"), examples_dir=examples,
                               owner=owner)
    if mpi > 1:
        if threat(job) not in ("evasion", "privacy"):
            raise BadInput("--mpi shards evasion and privacy attacks only")
        from dii_hpc.audit.placement import mpi as mpimod

        return mpimod.run(mpi, job, examples_dir=examples)
    from dii_hpc.audit import engine

    return engine.compute(job, examples_dir=examples)


def execute(job: dict[str, Any], *, mpi: int = 1, under: list[str] | None = None,
            over: list[str] | None = None, persist: bool = True
            ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(result, threshold checks): the config's fail_under/fail_over, then ``under``/``over``
    (METRIC=VALUE items) on top; with ``persist`` the result carries its ``run_id`` (the
    run `results.AuditRun` opened while arrays computed, or a new one)."""
    from dii_hpc.audit.core import results

    cfg = job["cfg"]
    floors = {**cfg.get("fail_under", {}), **results.parse_thresholds(under, "--fail-under")}
    ceilings = {**cfg.get("fail_over", {}), **results.parse_thresholds(over, "--fail-over")}
    with (tempfile.TemporaryDirectory(prefix="dii-hpc-audit-") as examples,
          results.AuditRun(job, threat(job), persist) as owner):
        if job.get("array"):  # the chain's merge job: its shard array ended (afterany)
            from dii_hpc.audit.placement import arrays

            arrays.check_ended(**job["array"])
        result = _compute(job, mpi, examples, owner)
        checks = results.breaches(result, floors, ceilings)
        result["thresholds"] = checks
        if persist:
            result["run_id"] = results.persist(result, examples_dir=examples, run=owner.run)
    return result, checks
