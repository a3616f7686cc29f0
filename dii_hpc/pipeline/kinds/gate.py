"""``gate: {name: NAME, policy: FILE, to: ALIAS}``: a model version against a policy.

The version is the one a stage above registered under ``name``, else the latest one. A
failed rule fails the stage (CheckFailed) with the rules that failed, which `pipeline
status` shows on it and on the stages that needed it; nothing is recorded or moved
(`promote` does both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dii_hpc.errors import CheckFailed
from dii_hpc.pipeline.context import Context, version_of
from dii_hpc.pipeline.kind import AliasName, ModelName, Outcome, ReadPath, StageConfig, StageKind

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Collection

    from dii_hpc.pipeline.spec import Pipeline, Stage


class GateConfig(StageConfig):
    name: ModelName
    policy: ReadPath
    to: AliasName | None = None


def catalog() -> dict[str, Collection[str]]:
    """The audits a policy may require: the suites and attacks the audit package knows."""
    from dii_hpc.audit.specs import catalog

    return dict(catalog())


def check(pipeline: Pipeline, stage: Stage) -> None:
    """The policy file, read as the stage will read it."""
    from dii_hpc.registry import policy

    policy.load(stage.value["policy"], catalog())


def decide(ctx: Context, name: str, policy: str, to: str | None, promote: bool) -> Outcome:
    """Gate (or promote) the version; a failed rule raises CheckFailed naming the rules."""
    from dii_hpc.registry.registry import Registry

    version = version_of(ctx, name)
    reg = Registry(ctx.store)
    decision = (reg.promote(name, version, str(to), policy, catalog()) if promote
                else reg.gate(name, version, policy, to, catalog()))
    if not decision.passed:
        target = f" to {to}" if to else ""
        raise CheckFailed(f"models:/{name}/{version} not {'promoted' if promote else 'passed'}"
                          f"{target}: {'; '.join(decision.failures())}")
    return {"name": name, "version": version, "passed": True, "alias": to,
            "checks": len(decision.checks)}, sorted({c.evidence for c in decision.checks
                                                     if c.evidence})


def run(ctx: Context) -> Outcome:
    spec = ctx.config(GateConfig)
    return decide(ctx, spec.name, spec.policy, spec.to, promote=False)


GATE = StageKind(name="gate", doc="check a model version against a policy (nothing moves)",
                 config=GateConfig, run=run, check=check)
