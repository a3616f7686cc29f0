"""A predict config (configs/predict-*.yaml): Slurm resources, setup lines and option defaults.

Command-line options win over the file; unknown keys are errors naming the key and line, like
every other config of dii-hpc.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dii_hpc.config.schema import Resources
from dii_hpc.errors import BadInput, ConfigError
from dii_hpc.inference.job import PredictRequest


class PredictConfig(BaseModel):
    """The YAML file; every key is optional (the command line may give it)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = None
    data: str | None = None
    out: str | None = None
    from_run: str | None = None
    artifact: str | None = None
    executor: str = "auto"
    shards: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=1024, ge=1)
    monitor: str | None = None
    experiment: str = "inference"
    device: str = "auto"
    resources: Resources = Field(default_factory=Resources)
    setup: list[str] = Field(default_factory=list)


def load(path: str) -> PredictConfig:
    from pydantic import ValidationError

    from dii_hpc.config import yamlio
    from dii_hpc.config.explain import explain

    raw, lines = yamlio.load(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a predict config is a mapping (model:, resources:, ...)")
    try:
        return PredictConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(explain(err, PredictConfig, source=path, lines=lines)) from err


def request(config: str | None, given: dict[str, Any]) -> PredictRequest:
    """The request: the config file's values, overridden by options given on the command line."""
    cfg = load(config) if config else PredictConfig()
    values = {**cfg.model_dump(exclude={"resources", "setup"}),
              **{k: v for k, v in given.items() if v is not None}}
    missing = [f"--{k.replace('_', '-')}" for k in ("model", "data", "out") if not values.get(k)]
    if missing:
        raise BadInput(f"predict needs {', '.join(missing)}")
    if values["executor"] not in ("auto", "local", "slurm", "debug"):
        raise BadInput(f"--executor {values['executor']}: expected auto, local, slurm or debug")
    if values["device"] not in ("auto", "cpu") and not str(values["device"]).startswith("cuda"):
        raise BadInput(f"--device {values['device']}: expected auto, cpu or cuda[:N]")
    search = [str(Path(config).resolve().parent)] if config else []  # modules beside the config
    return PredictRequest(**values, resources=cfg.resources, setup=list(cfg.setup), search=search)
