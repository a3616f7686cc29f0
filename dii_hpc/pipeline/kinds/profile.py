"""``profile: {name: MONITOR, data: FILE, labels: FILE, config: FILE, model: REF}``: a drift
monitor's reference (`drift.monitor.profile`); ``model_from:`` gives it the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dii_hpc.errors import BadInput, ConfigError
from dii_hpc.pipeline.context import Context, model_of
from dii_hpc.pipeline.kind import (
    PLACEHOLDERS,
    ModelFromOptions,
    ModelText,
    Outcome,
    ReadPath,
    StageConfig,
    StageKind,
)

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.pipeline.spec import Pipeline, Stage


class ProfileConfig(StageConfig):
    name: str
    data: ReadPath
    config: ReadPath | None = None
    labels: ReadPath | None = None
    model: ModelText | None = None


def check(pipeline: Pipeline, stage: Stage) -> None:
    """The drift options, and the reference data and labels as the stage will open them (a
    file a stage makes is named under ``{work}`` and checked when that stage has run)."""
    from dii_hpc.drift.io import resolve_path
    from dii_hpc.drift.options import from_command_line

    spec = ProfileConfig.model_validate(stage.value)
    from_command_line(spec.config, {})
    for key in ("data", "labels"):
        text = getattr(spec, key)
        if isinstance(text, str) and not any(p in text for p in PLACEHOLDERS):
            try:
                resolve_path(text)
            except BadInput as err:
                raise ConfigError(f"profile.{key}: {err} (a file another stage makes is "
                                  "named under {work})") from err


def run(ctx: Context) -> Outcome:
    from dii_hpc.drift.monitor import profile as make_profile
    from dii_hpc.drift.options import from_command_line

    spec = ctx.config(ProfileConfig)
    model = spec.model
    source = ctx.options(ModelFromOptions).model_from
    if model is None and source:
        found = model_of(ctx, source)
        model = found if isinstance(found, str) else None
    rec = make_profile(ctx.store, spec.name, ctx.fill(spec.data),
                       from_command_line(spec.config, {}), model,
                       ctx.fill(spec.labels) if spec.labels else None)
    return {"monitor": spec.name, "rows": rec.n_rows}, []


PROFILE = StageKind(name="profile", doc="a drift monitor's reference profile",
                    config=ProfileConfig, options=ModelFromOptions, check=check, run=run)
