"""``register: {name: NAME, from: SELECT, alias: ALIAS}``: a selected run as a model version.

A select stage that registered the run under the same name already made the version: it is
reused, not registered twice. ``alias:`` then points at it.
"""

from __future__ import annotations

from pydantic import Field

from dii_hpc.pipeline.context import Context, register
from dii_hpc.pipeline.kind import AliasName, ModelName, Outcome, RunOf, StageConfig, StageKind


class RegisterConfig(StageConfig):
    name: ModelName
    from_: RunOf = Field(alias="from")
    alias: AliasName | None = None


def run(ctx: Context) -> Outcome:
    spec = ctx.config(RegisterConfig)
    source = ctx.output(spec.from_)
    out = ({"name": spec.name, "version": source["version"], "model": source["model"]}
           if source.get("name") == spec.name and source.get("version") else
           register(ctx, source["run_id"], spec.name))
    if spec.alias:
        from dii_hpc.registry.registry import Registry

        Registry(ctx.store).set_alias(spec.name, out["version"], spec.alias,
                                      reason=f"pipeline {ctx.pipeline_id} stage {ctx.stage.name}")
    return {**out, "run_id": source["run_id"]}, []


REGISTER = StageKind(
    name="register", doc="register a select stage's run as a model version (and an alias)",
    config=RegisterConfig, run=run, gives=frozenset({"model"}))
