"""``select: {from: SWEEP, metric: M, mode: max|min, register: NAME}``: the best run of a sweep.

It registers the selected run under ``register:``, else under the one model name the stages
after it act on (a gate's or promote's ``name``), so that audits of ``model_from:`` it are
evidence for that gate; a stage after it that registers its run itself (``register:
{from: it}``) registers instead.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dii_hpc.errors import InfraError
from dii_hpc.pipeline.context import Context, register
from dii_hpc.pipeline.kind import (
    STAGE_KINDS,
    ModelName,
    NamesModel,
    Outcome,
    RunsOf,
    StageConfig,
    StageKind,
    marked,
)
from dii_hpc.records.runs import best as best_run


class SelectConfig(StageConfig):
    from_: RunsOf = Field(alias="from")
    metric: str
    mode: Literal["max", "min"] = "max"
    register_: ModelName | None = Field(default=None, alias="register")


def _model_name(ctx: Context) -> str | None:
    """The name the selected run is registered under (None: not registered here)."""
    own = ctx.config(SelectConfig).register_
    if own:
        return own
    names: set[str] = set()
    for stage in ctx.below():
        kind = STAGE_KINDS.get(stage.kind)
        if "model" in kind.gives:  # it registers a model itself: the one it reads, if this
            if ctx.stage.name in {r.value for r in kind.references(stage.value, stage.options)}:
                return None
            continue
        names |= {str(m.value) for m in marked(kind.parse(stage.value), NamesModel)}
    return names.pop() if len(names) == 1 else None


def run(ctx: Context) -> Outcome:
    spec = ctx.config(SelectConfig)
    runs = (ctx.store.run(rid) for rid in ctx.output(spec.from_).get("runs") or [])
    best = best_run(runs, spec.metric, spec.mode)
    if best is None:
        raise InfraError(f"select: no FINISHED run of stage {spec.from_} has metric "
                         f"{spec.metric!r}")
    outputs: dict[str, Any] = {"run_id": best[0], "metric": spec.metric, "value": best[1]}
    name = _model_name(ctx)
    if name:
        outputs.update(register(ctx, best[0], name))
    return outputs, []


SELECT = StageKind(
    name="select", doc="the best FINISHED run of a sweep by a metric (registered as a model)",
    config=SelectConfig, run=run, gives=frozenset({"run", "model"}))
