"""A pipeline stage kind as one record: `StageKind` (parse, check, plan, run, status).

Why a record: a stage kind used to be a string switch repeated in six files (the spec's key
tables, the checks, the bodies, the submission, the job, the status), and adding one meant
editing each. Now a kind is one `StageKind` in one file: the built-ins are the modules of
`dii_hpc.pipeline.kinds`, and a user's own kind is a record registered through the
entry-point group ``dii_hpc.stages`` (`STAGE_KINDS` finds both). The pipeline machinery
(`spec`, `checks`, `cache`, `submit`, `stage`, `status`) only ever asks the record.

What a record says:
- ``config``: the pydantic model of the kind key's value (``select: {from: train, ...}``; a
  `pydantic.RootModel` for a path or a command line), ``options``: the model of the keys a
  stage of the kind may have beside it (``model_from:``, ``tasks:``); both read through
  `config.typed`, so every error names the file, the line and the key. Fields are marked by
  what they mean to the pipeline (`Reads`, `Writes`, `ModelFile`, `Upstream`, `NamesModel`):
  `spec` resolves the files once, `cache` hashes what the stage reads, and a stage a field
  names is needed implicitly and must `give` what the field wants (``select.from``: runs).
- ``check``: what the stage job would refuse hours later, refused before anything is queued.
- ``plan``: what it submits on Slurm (`Plan`: array tasks before its job, or an array that is
  the whole stage, task by task after the array it needs); ``launch``: a kind that submits
  its own work instead (a sweep goes through `launch.submit`).
- ``run``: the job body, ``(outputs, runs)``; ``task``: an array task's body.
- ``settle``: how a stage with no job of its own (an array) is settled from its runs.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from dii_hpc.errors import BadInput
from dii_hpc.plugins import Family

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.pipeline.context import Context
    from dii_hpc.pipeline.spec import Pipeline, Places, Stage
    from dii_hpc.records.pipeline import PipelineRecord, StageRecord
    from dii_hpc.store.store import Store

Outcome = tuple[dict[str, Any], list[str]]  # (outputs later stages read, run ids it made)
Settled = tuple[str, str | None, dict[str, Any]]  # (state, error, outputs)
M = TypeVar("M")
PLACEHOLDERS = ("{work}", "{store}")


# ------------------------------------------------------------------ field markers
@dataclass(frozen=True)
class Reads:
    """A file the stage reads: made absolute at parse (working dir, then the pipeline file's
    folder) and hashed into the stage's key."""


@dataclass(frozen=True)
class Writes:
    """A file or folder the stage writes: made absolute at parse (working dir)."""


@dataclass(frozen=True)
class ModelFile:
    """A ``module:callable`` model reference; a ``file.py:fn`` one has its file resolved like
    a file the stage reads."""


@dataclass(frozen=True)
class Upstream:
    """Names another stage whose outputs this one reads: needed implicitly, and its kind must
    `give` ``wants`` (``runs``: a sweep's; ``run``: a selected run; ``model``: a model)."""

    wants: str


@dataclass(frozen=True)
class NamesModel:
    """The registry model the stage acts on (a select stage registers its run under the one
    name the stages after it act on)."""


def _model_name(value: str) -> str:
    from dii_hpc.registry import layout

    try:
        return layout.check_name(value)
    except BadInput as err:
        raise ValueError(str(err)) from None


def _alias(value: str) -> str:
    from dii_hpc.registry import layout

    try:
        return layout.check_alias(value)
    except BadInput as err:
        raise ValueError(str(err)) from None


def _config_path(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise ValueError(f"give the config file's path, not {value!r}")
    return value


ReadPath = Annotated[str, Reads()]
WritePath = Annotated[str, Writes()]
ConfigPath = Annotated[str, BeforeValidator(_config_path), Reads()]
ModelText = Annotated[str, ModelFile()]
ModelName = Annotated[str, NamesModel(), AfterValidator(_model_name)]
AliasName = Annotated[str, AfterValidator(_alias)]
RunsOf = Annotated[str, Upstream("runs")]
RunOf = Annotated[str, Upstream("run")]
ModelOf = Annotated[str, Upstream("model")]


class StageConfig(BaseModel):
    """Base of a kind's models: unknown keys are errors; ``from`` may be a field's alias."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NoOptions(StageConfig):
    """A kind with no key beside its own (and needs, resources, setup)."""


class ModelFromOptions(StageConfig):
    """A kind whose only other key names the stage its model comes from (predict, profile)."""

    model_from: ModelOf | None = None


def markers(annotation: Any) -> list[Any]:
    """The ``Annotated`` metadata of a field's type, through ``X | None`` and nesting."""
    found: list[Any] = []
    if typing.get_origin(annotation) is Annotated:
        found += list(annotation.__metadata__)
        return found + markers(typing.get_args(annotation)[0])
    for arg in typing.get_args(annotation):
        found += markers(arg)
    return found


@dataclass(frozen=True)
class Marked:
    """One marked field of a parsed model: its field name, key as written, marker, value."""

    field: str
    key: str
    marker: Any
    value: Any


def marked(model: BaseModel, kind: type[M]) -> list[Marked]:
    """Every field of ``model`` (a RootModel's root: key "") carrying a ``kind`` marker."""
    out = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        for marker in (*info.metadata, *markers(info.annotation)):
            if isinstance(marker, kind) and value is not None:
                key = "" if name == "root" else (info.alias or name)
                out.append(Marked(name, key, marker, value))
    return out


# ------------------------------------------------------------------ what a kind does
@dataclass(frozen=True)
class Plan:
    """What a stage submits on Slurm beside (or instead of) its own job.

    ``tasks``: an array of that many tasks (`StageKind.task`) before the stage job (0: none);
    ``job``: False when the array is the whole stage (settled when it ends); ``each``: task i
    starts after task i of the array stage it needs (``aftercorr``)."""

    tasks: int = 0
    job: bool = True
    each: bool = False


@dataclass(frozen=True)
class Queued:
    """What submitting a stage gave: every job id, the ones what needs it waits for, and its
    array (the job id an ``each:`` stage after it waits for task by task)."""

    jobs: list[str]
    final: list[str]
    array: str | None = None


@dataclass
class Launching:
    """What a kind that submits its own work (`StageKind.launch`) is given."""

    store: Store
    record: PipelineRecord
    stage: Stage
    executor: str  # slurm (queue it) or local (run it here, then settle it)
    dependency: str | None = None  # Slurm --dependency on what it needs
    conf: dict[str, str] | None = None  # `scontrol show config`, asked once per submit
    base: dict[str, Any] | None = None  # fields its record gets at submission

    def write(self, **fields: Any) -> StageRecord:
        from dii_hpc.records import pipeline as records

        return records.write_stage(self.store.root, self.record.id, self.stage.name,
                                   **{**(self.base or {}), **fields})


class Body(Protocol):
    def __call__(self, ctx: Context) -> Outcome: ...


class Check(Protocol):
    def __call__(self, pipeline: Pipeline, stage: Stage) -> None: ...


class Planner(Protocol):
    def __call__(self, stage: Stage) -> Plan: ...


class Launch(Protocol):
    def __call__(self, job: Launching) -> Queued: ...


class Settle(Protocol):
    def __call__(self, store: Store, outputs: dict[str, Any]) -> Settled: ...


class Reader(Protocol):
    def __call__(self, stage: Stage, places: Places) -> list[Path]: ...


def no_check(pipeline: Pipeline, stage: Stage) -> None:
    """Nothing beyond the models' own validation."""


def one_job(stage: Stage) -> Plan:
    """The stage is its one job."""
    return Plan()


def strings(value: Any) -> list[str]:
    """Every string of a mapping/list tree."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return []


def config_files(stage: Stage, places: Places) -> list[Path]:
    """What a stage reads by default: every absolute path of its config (`spec` made the
    paths it reads absolute); those under ``{work}``/``{store}`` are made by stages."""
    out = []
    for text in strings([stage.value, stage.options]):
        if any(p in text for p in (*PLACEHOLDERS, "{task}")) or len(text) > 4096 or "\n" in text:
            continue
        if Path(text).is_absolute():
            out.append(Path(text))
    return out


@dataclass(frozen=True)
class StageKind:
    """One stage kind; see the module docstring. ``doc``: one line for `pipeline kinds`."""

    name: str
    doc: str
    config: type[BaseModel]
    run: Body | None = None
    options: type[BaseModel] = NoOptions
    check: Check = no_check
    plan: Planner = one_job
    task: Body | None = None
    launch: Launch | None = None
    settle: Settle | None = None
    gives: frozenset[str] = frozenset()
    reads: Reader = config_files
    in_cwd: bool = False  # runs in the folder of `pipeline submit`: its key covers that folder

    def __post_init__(self) -> None:
        if self.run is None and self.launch is None:
            raise BadInput(f"stage kind {self.name!r}: give it a `run` body or a `launch`")

    def parse(self, value: Any) -> BaseModel:
        """The stage's kind value as its typed config (as saved in the pipeline record)."""
        return self.config.model_validate(value)

    def parse_options(self, options: dict[str, Any]) -> BaseModel:
        return self.options.model_validate(options)

    def references(self, value: Any, options: dict[str, Any]) -> list[Marked]:
        """The fields that name another stage (their key: ``select.from``, ``model_from``)."""
        own = [Marked(m.field, f"{self.name}.{m.key}" if m.key else self.name, m.marker, m.value)
               for m in marked(self.parse(value), Upstream)]
        return own + marked(self.parse_options(options), Upstream)


STAGE_KINDS: Family[StageKind] = Family("stage kind", StageKind, "dii_hpc.stages",
                                        ["dii_hpc.pipeline.kinds"])


def kind_of(stage: Stage) -> StageKind:
    """The record of ``stage``'s kind."""
    return STAGE_KINDS.get(stage.kind)


def givers(wants: str) -> list[str]:
    """The kinds whose stages give ``wants`` (for the message of a wrong reference)."""
    return [k.name for k in STAGE_KINDS if wants in k.gives]

