"""AutoAttack's standard as a `Suite` record: ``audit suite evasion --standard autoattack``.

A standard of the evasion suite (``standard=True``): the blocks of `BLOCK` samples are its
shards (a Slurm array task each, on the task's GPU), planned from the model's own outputs (a
randomised model runs version 'rand'), so planning builds the model and the standard does not
queue as a chain before the model exists (``chain=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dii_hpc.audit.evasion.autoattack import standard
from dii_hpc.audit.evasion.suite import GRADING
from dii_hpc.audit.specs import CLASSIFIERS, Facts, Suite

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.checkpoint import Checkpoint
    from dii_hpc.audit.core.data import Generator, Prepared
    from dii_hpc.audit.job import AuditJob


def _run(job: AuditJob, prep: Prepared, generator: Generator | None, examples_dir: str | None,
         ck: Checkpoint) -> dict[str, Any]:
    return standard.run(job, prep, generator, examples_dir, ck)


def _plan(job: AuditJob, facts: Facts) -> list[str]:
    """The blocks' keys: the variant needs the model's outputs, so the model is built."""
    from dii_hpc.audit.core.data import prepare

    prep = prepare(job)
    p = standard.setup(prep.model, prep.x, dict(job.config.params))[0]
    return standard.block_keys(p.variant, len(prep.x))


def _compute(job: AuditJob, prep: Prepared, shard: str, ck: Checkpoint,
             generator: Generator | None) -> None:
    from dii_hpc.audit.evasion.torch_engine.target import of, to_task_device

    to_task_device(prep.model)
    p = standard.plan(prep.model, dict(job.config.params), shard.split("-")[1])
    standard.compute_block(of(prep.model, "--standard autoattack"), prep.x, prep.y, p,
                           prep.seed, shard, ck)


def _listing() -> list[str]:
    return [f"{standard.NAME} v{standard.VERSION}, {standard.REFERENCE}; in this order on the "
            "samples still robust:", *standard.listing()]


AUTOATTACK = Suite(
    "autoattack", "evasion",
    "AutoAttack's standard evaluation (APGD-CE, APGD-T, FAB-T, Square), as RobustBench runs it",
    CLASSIFIERS, GRADING, _run, _plan, _compute, check=standard.check, standard=True,
    chain=False, listing=_listing)
