"""The audit config file, as a pydantic model read through `config.typed`.

    experiment: digits-audit        # store experiment of the audit run
    model: {factory: dii_hpc.examples.digits:digits_model, params: {width: 16}}
    data: dii_hpc.examples.digits:digits_data
    task: image_classification      # default: what the model reference knows, else the model's
    suite: evasion                  # level I (`audit run`)
    attack: pgd                     # level II name, or an ART class path (level III)
    threat: evasion                 # level III: the threat of an ART class path
    level: II                       # default: a suite -> I, a class path -> III, a name -> II
    params: {eps: 0.2}              # eps may be a fraction: 8/255
    attacks: [fgsm, pgd]            # level I: only these of the suite's attacks
    engine: art                     # art | torch (attacks written in torch, torch models)
    standard: autoattack            # suite evasion: AutoAttack's standard (params: eps, norm)
    n_samples: 200
    seed: 0                         # every random draw derives from it (audit.core.randomness)
    sample_shards: 1                # --executor slurm: split each attack's samples over k tasks
    resources: {gpus_per_task: 1}   # --executor slurm: what each array task asks Slurm for
    setup: []                       # shell lines run before each array task
    parent_run: null                # training run id of the audited model
    fail_under: {robust_accuracy: 0.3}
    fail_over: {auc: 0.7}

Every error is one line naming the file, the line and the key (``a.yaml:3: seed: 'abc' is
not an integer``), or the command-line option that gave the value (``--n-samples 0: must
be a positive integer``): the file and the options are read by `config.typed`, the one
loader of every config file. Nothing here imports the model or the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictInt,
    field_validator,
)

from dii_hpc.config.schema import Resources
from dii_hpc.errors import BadInput


def _number(value: Any) -> Any:
    """A threshold: a number or its text, never a boolean (YAML's ``yes``)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return value


Threshold = Annotated[FiniteFloat, BeforeValidator(_number)]

#: The command-line option that sets each field (errors name the option, not the key).
OPTIONS = {"model": "--model", "data": "--data", "n_samples": "--n-samples", "seed": "--seed",
           "experiment": "--experiment", "parent_run": "--parent-run", "engine": "--engine",
           "standard": "--standard"}
LEVELS = ("I", "II", "III")


class AuditConfig(BaseModel):
    """One audit's settings (see the module docstring), immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str = "audit"
    model: str | dict[str, Any] | None = None
    data: str | dict[str, Any] | None = None
    task: str | None = None
    suite: str | None = None
    attack: str | None = None
    threat: str | None = None
    level: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    attacks: list[str] | None = None
    engine: str | None = None
    standard: str | None = None
    n_samples: StrictInt = 200
    seed: StrictInt = 0
    sample_shards: StrictInt = 1
    resources: Resources | None = None
    setup: list[str] = Field(default_factory=list)
    parent_run: str | None = None
    fail_under: dict[str, Threshold] = Field(default_factory=dict)
    fail_over: dict[str, Threshold] = Field(default_factory=dict)

    @field_validator("n_samples", "sample_shards")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value!r} must be a positive integer")
        return value

    @field_validator("task")
    @classmethod
    def _task(cls, value: str | None) -> str | None:
        from dii_hpc.audit.model.protocols import Task

        if value is not None and value not in {t.value for t in Task}:
            raise ValueError(f"{value!r} is not a task; known: "
                             f"{', '.join(t.value for t in Task)}")
        return value

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> str | None:
        if value is None:
            return None
        level = str(value).upper()
        if level not in LEVELS:
            raise ValueError(f"{value!r} must be I, II or III")
        return level

    @field_validator("fail_under", "fail_over", mode="before")
    @classmethod
    def _bounds(cls, value: Any) -> Any:
        """METRIC: NUMBER: a threshold that is no number must not surface only after a long
        attack (the numbers are checked per metric, each error naming its key)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must be a mapping METRIC: NUMBER")
        return value


def load(path: str | Path | None, overrides: dict[str, Any] | None = None,
         options: dict[str, str] | None = None) -> AuditConfig:
    """The config file (if any) with ``overrides`` on top (named as ``options`` in errors:
    the command line's by default); `model` and `data` must be named by one or the other."""
    from dii_hpc.config import typed

    options = OPTIONS if options is None else options
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if path:
        config = typed.load(AuditConfig, path, overrides=given, options=options)
    else:
        config = typed.validate(AuditConfig, given,
                                options={k: options[k] for k in given if k in options})
    for key in ("model", "data"):
        if not getattr(config, key):
            raise BadInput(f"audit needs `{key}` (\"module:callable\") in the config or --{key}")
    return config
