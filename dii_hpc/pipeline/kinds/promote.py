"""``promote: {name: NAME, to: ALIAS, policy: FILE}``: gate, record the decision, and move
the alias when every rule holds (see `gate`)."""

from __future__ import annotations

from dii_hpc.pipeline.context import Context
from dii_hpc.pipeline.kind import AliasName, ModelName, Outcome, ReadPath, StageConfig, StageKind
from dii_hpc.pipeline.kinds.gate import check, decide


class PromoteConfig(StageConfig):
    name: ModelName
    to: AliasName
    policy: ReadPath


def run(ctx: Context) -> Outcome:
    spec = ctx.config(PromoteConfig)
    return decide(ctx, spec.name, spec.policy, spec.to, promote=True)


PROMOTE = StageKind(name="promote", doc="gate a model version, then move an alias to it",
                    config=PromoteConfig, run=run, check=check)
