"""``predict: {data: FILES, out: FOLDER, model: REF, ...}``: batch inference in the stage job
(`inference.job.predict`); ``model_from:`` gives it the model, ``monitor:`` checks drift."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dii_hpc.errors import ConfigError
from dii_hpc.pipeline.context import Context, model_of
from dii_hpc.pipeline.kind import (
    ModelFromOptions,
    ModelText,
    Outcome,
    ReadPath,
    StageConfig,
    StageKind,
    WritePath,
)

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.pipeline.spec import Pipeline, Stage


class PredictConfig(StageConfig):
    data: ReadPath
    out: WritePath | None = None  # default: {work}/predictions/<stage>
    config: ReadPath | None = None
    model: ModelText | None = None
    monitor: str | None = None
    batch_size: int | None = None
    device: str | None = None


def check(pipeline: Pipeline, stage: Stage) -> None:
    if not stage.options.get("model_from") and not stage.value.get("model"):
        raise ConfigError("predict: give predict.model or model_from: a select/register stage")


def run(ctx: Context) -> Outcome:
    from dii_hpc.inference.job import predict
    from dii_hpc.inference.jobconfig import request

    spec = ctx.config(PredictConfig)
    source = ctx.options(ModelFromOptions).model_from
    model = model_of(ctx, source) if source else spec.model
    given = {"model": model, "data": ctx.fill(spec.data),
             "out": ctx.fill(spec.out or f"{{work}}/predictions/{ctx.stage.name}"),
             "executor": "local", "monitor": spec.monitor, "batch_size": spec.batch_size,
             "device": spec.device}
    section = predict(request(spec.config, given), ctx.store)
    return ({"run_id": section.get("run_id"), "rows": section.get("rows"),
             "out": section.get("out")}, [section["run_id"]] if section.get("run_id") else [])


PREDICT = StageKind(name="predict", doc="batch inference with a model (and a drift check)",
                    config=PredictConfig, options=ModelFromOptions, check=check, run=run)
