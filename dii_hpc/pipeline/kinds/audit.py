"""``audit: CONFIG`` with ``suite: NAME`` or ``attack: NAME``: an audit of a model.

``model_from:`` a select or register stage fills the config's model (the registered
version, else the selected run's weights) and its ``parent_run``; ``set:`` overrides keys of
the config, ``params:`` the attack's. On Slurm a sharded level I suite is an array of its
shards (task i computes the i-th shard key, `audit.placement.chain`) and the stage job is
its merge; ``shards: false`` runs it whole in the stage job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import RootModel, model_validator

from dii_hpc.errors import BadInput
from dii_hpc.pipeline.context import Context, model_of
from dii_hpc.pipeline.kind import ConfigPath, ModelOf, Outcome, Plan, StageConfig, StageKind

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob
    from dii_hpc.pipeline.spec import Pipeline, Stage

PLACEHOLDER_MODEL = "pipeline:model_from"  # what validation puts where model_from will go


class AuditPath(RootModel[ConfigPath]):
    """The audit config's path."""


class AuditOptions(StageConfig):
    suite: str | None = None
    attack: str | None = None
    params: dict[str, Any] = {}
    model_from: ModelOf | None = None
    set: dict[str, Any] = {}
    shards: bool | None = None  # None: a sharded suite runs as an array on Slurm

    @model_validator(mode="after")
    def _one(self) -> AuditOptions:
        if bool(self.suite) == bool(self.attack):
            raise ValueError("an audit stage names one `suite:` (evasion, privacy, poisoning) "
                             "or one `attack:`")
        return self


def audit_job(stage: Stage, model: Any, fill: Callable[[str], str] = str) -> AuditJob:
    """The audit job of a stage, its model filled in."""
    from dii_hpc.audit import job

    options = AuditOptions.model_validate(stage.options)
    overrides = {k: fill(v) if isinstance(v, str) else v for k, v in options.set.items()}
    if model is not None:
        overrides["model"] = model
    if options.model_from:
        overrides.setdefault("model", PLACEHOLDER_MODEL)
    return job.for_stage(stage.value, overrides, suite=options.suite, attack=options.attack,
                         params=options.params)


def check(pipeline: Pipeline, stage: Stage) -> None:
    """The config, and the suite or attack (a subset of a suite's attacks it has)."""
    from dii_hpc.audit.placement import chain
    from dii_hpc.audit.specs import attack, catalog

    options = AuditOptions.model_validate(stage.options)
    suites = catalog()["suite"]
    if options.suite is not None and options.suite not in suites:
        raise BadInput(f"suite: unknown suite {options.suite!r}; known suites: "
                       f"{', '.join(suites)}")
    if options.attack:
        attack(options.attack)
    job = audit_job(stage, None)
    if chain.sharded(job):
        chain.task_count(job)
    elif options.shards:
        chain.check(job)


def plan(stage: Stage) -> Plan:
    """A sharded suite: its shard array, then the stage job as its merge."""
    from dii_hpc.audit.placement import chain

    options = AuditOptions.model_validate(stage.options)
    if options.shards is not False and options.suite:
        job = audit_job(stage, None)
        if chain.sharded(job):
            return Plan(tasks=chain.task_count(job))
    return Plan()


def _job(ctx: Context) -> AuditJob:
    source = ctx.options(AuditOptions).model_from
    model = model_of(ctx, source) if source else None
    job = audit_job(ctx.stage, model, ctx.fill)
    return job.with_parent(ctx.output(source).get("run_id")) if source else job


def run(ctx: Context) -> Outcome:
    """The suite (merging the shards an array computed) or the attack; thresholds fail it."""
    from dii_hpc.audit.placement import chain

    out = chain.merge(_job(ctx))
    return out, [out["run_id"]] if out.get("run_id") else []


def shard(ctx: Context) -> Outcome:
    """Array task ``ctx.task``: one shard into the audit's checkpoint."""
    from dii_hpc.audit.placement import chain

    assert ctx.task is not None
    return {"shard": chain.compute_at(_job(ctx), ctx.task)}, []


AUDIT = StageKind(
    name="audit", doc="audit a model: a suite (sharded on Slurm) or one attack",
    config=AuditPath, options=AuditOptions, check=check, plan=plan, run=run, task=shard)
