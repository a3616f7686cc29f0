"""What a stage's body is given (`Context`) and what bodies share: the outcome of the stages
it needs, the model a ``model_from:`` names, the version a stage above registered.

A body (`StageKind.run`) takes the stage's `Context` and returns ``(outputs, runs)``: a small
mapping later stages read (the selected run, the registered version, an audit run, ...) and
the run ids it made (the report links them). A body that fails raises; its job then fails
and Slurm cancels what needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from dii_hpc.errors import InfraError
from dii_hpc.pipeline import graph
from dii_hpc.pipeline.spec import Pipeline, Stage
from dii_hpc.records import pipeline as records

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

M = TypeVar("M", bound=BaseModel)


@dataclass
class Context:
    store: Store
    pipeline_id: str
    pipeline: Pipeline
    stage: Stage
    task: int | None = None  # array task index (audit shards, command tasks)

    @property
    def needs(self) -> dict[str, tuple[str, ...]]:
        return {n: s.needs for n, s in self.pipeline.stages.items()}

    def config(self, model: type[M]) -> M:
        """The stage's kind value as ``model`` (its kind's config model)."""
        return model.model_validate(self.stage.value)

    def options(self, model: type[M]) -> M:
        """The keys beside the kind key as ``model`` (its kind's options model)."""
        return model.model_validate(self.stage.options)

    def fill(self, text: str) -> str:
        """``text`` with its placeholders filled as the stage's key filled them."""
        places = self.pipeline.places(self.store.root)
        places.work.mkdir(parents=True, exist_ok=True)
        return str(places.fill(text, self.task))

    def output(self, stage: str) -> dict[str, Any]:
        record = records.read_stage(self.store.root, self.pipeline_id, stage)
        if record.outputs is None:
            raise InfraError(f"stage {self.stage.name}: stage {stage} has no outcome yet "
                             f"(state {record.state})")
        return record.outputs

    def below(self) -> list[Stage]:
        """The stages that need this one, directly or not."""
        return [self.pipeline.stages[n] for n in graph.descendants(self.needs, [self.stage.name])]


def model_of(ctx: Context, source: str) -> Any:
    """What ``model_from: source`` puts in a config: the registered version's URI, else the
    selected run's weights through its loader (as `models register` would record it)."""
    out = ctx.output(source)
    if out.get("model"):
        return out["model"]
    from dii_hpc.registry import lineage, uri

    return uri.factory_spec(lineage.from_run(ctx.store, out["run_id"]), ctx.store.root)


def version_of(ctx: Context, name: str) -> int:
    """The version of ``name`` an upstream stage registered, else the latest one."""
    for stage in graph.ancestors(ctx.needs, ctx.stage.name):
        out = records.read_stage(ctx.store.root, ctx.pipeline_id, stage).outputs or {}
        if out.get("name") == name and out.get("version"):
            return int(out["version"])
    from dii_hpc.registry.registry import Registry

    return int(Registry(ctx.store).resolve(name)["version"])


def register(ctx: Context, run_id: str, name: str) -> dict[str, Any]:
    """Register ``run_id`` as a version of ``name``; the outputs a model stage gives."""
    from dii_hpc.registry.registry import Registry

    version = Registry(ctx.store).register(
        run_id, name, description=f"pipeline {ctx.pipeline.name} ({ctx.pipeline_id}), stage "
        f"{ctx.stage.name}")["version"]
    return {"name": name, "version": version, "model": f"models:/{name}/{version}"}
