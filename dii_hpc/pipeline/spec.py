"""Pipeline YAML -> `Pipeline`: the file and every stage read by pydantic models, one-line errors.

    pipeline: digits-lifecycle
    resources: {time: "00:20:00"}          # default of every stage job (a stage may override)
    stages:
      train:   {sweep: configs/quickstart.yaml, set: {params.epochs: 3}}
      best:    {select: {from: train, metric: val_acc, mode: max}, needs: [train]}
      evasion: {audit: configs/audit-digits-suite.yaml, suite: evasion, model_from: best}
      gate:    {promote: {name: digits, to: champion, policy: configs/policy.yaml}, needs: [evasion]}
      site:    {report: {}, needs: [gate]}

Each stage has exactly one kind key (a `StageKind` of `STAGE_KINDS`); the stage is read by its
kind's models (`kind.StageKind.config` for the kind key's value, ``options`` for the keys
beside it, plus ``needs``, ``resources``, ``setup``) through `config.typed`, so an error names
the stage, the file, the line and the key (``stage best: p.yaml:4: select.mode: 'best' must
be one of 'max' or 'min'``). ``needs`` lists the stages it waits for; the stages its fields
name (`kind.Upstream`: ``select.from``, ``model_from``) are needed implicitly.
Strings may hold ``{work}`` (a folder kept per pipeline name, for files stages hand on) and
``{store}``; they are filled in when the stage runs (`Places.fill`). Every file a stage's
config reads (`kind.Reads`, `kind.ModelFile`) is resolved once, here, against the working
directory, then the pipeline file's folder (`resolve_path`): the stage job reads the absolute
path recorded in the spec and the cache key hashes that same file. A command runs in the
working directory of `pipeline submit` (`Pipeline.cwd`), so its relative arguments name files
there (`Places.path`).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from dii_hpc.errors import ConfigError
from dii_hpc.pipeline.kind import (
    PLACEHOLDERS,
    STAGE_KINDS,
    ModelFile,
    Reads,
    StageKind,
    Writes,
    marked,
)

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.config.yamlio import KeyPath

STAGE_DEFAULTS = {"time": "00:30:00", "cpus_per_task": 1}
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME = re.compile(NAME)


def _strings(value: Any) -> Any:
    """A string or a list of strings (``needs: a`` is ``needs: [a]``)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


Strings = Annotated[list[str], BeforeValidator(_strings)]


class PipelineFile(BaseModel):
    """The file's top level; each stage is read by its kind's models (`stage_model`)."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str | None = Field(default=None, validate_default=True)
    stages: dict[str, Any] = Field(default=None, validate_default=True)  # type: ignore[assignment]
    resources: dict[str, Any] = Field(default_factory=dict)
    setup: Strings = Field(default_factory=list)

    @field_validator("pipeline", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _NAME.match(value):
            raise ValueError(f"give the pipeline a name (letters, digits, -_.), not {value!r}")
        return value

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValueError(f"a mapping of stage name -> stage, not {value!r}")
        return value


class _Common(BaseModel):
    """The keys every stage may have beside its kind's."""

    needs: Strings = Field(default_factory=list)
    resources: dict[str, Any] = Field(default_factory=dict)  # checked at submit (`checks`)
    setup: Strings = Field(default_factory=list)


def _empty(value: Any) -> Any:
    return {} if value is None else value  # `report:` alone is `report: {}`


@functools.cache
def stage_model(kind: StageKind) -> type[BaseModel]:
    """A stage of ``kind`` as one model: its kind key (field ``value_``), the common keys, its
    options (in that order: the order an unknown key's message lists them in)."""
    from pydantic import create_model

    value = Annotated[kind.config, BeforeValidator(_empty)]  # type: ignore[name-defined]
    key: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{kind.name}_key", value_=(value, Field(alias=kind.name)))
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{kind.name}_stage", __base__=(kind.options, _Common, key))
    return model


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    value: Any  # the kind key's value as its config model dumps it: a path, a mapping, a command
    options: dict[str, Any] = field(default_factory=dict)  # the keys beside it, dumped
    needs: tuple[str, ...] = ()
    resources: dict[str, Any] = field(default_factory=dict)
    setup: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "value": self.value,
                "options": self.options, "needs": list(self.needs),
                "resources": self.resources, "setup": list(self.setup)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stage:
        return cls(d["name"], d["kind"], d["value"], dict(d.get("options") or {}),
                   tuple(d.get("needs") or ()), dict(d.get("resources") or {}),
                   tuple(d.get("setup") or ()))

    @property
    def upstream(self) -> tuple[str, ...]:
        """The stages whose outcome this one reads (also in ``needs``)."""
        refs = STAGE_KINDS.get(self.kind).references(self.value, self.options)
        return tuple(dict.fromkeys(str(r.value) for r in refs))


@dataclass(frozen=True)
class Pipeline:
    name: str
    source: str
    stages: dict[str, Stage]
    cwd: str = ""  # where `pipeline submit` ran: commands run there ("" in older records)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "cwd": self.cwd,
                "stages": [s.to_dict() for s in self.stages.values()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pipeline:
        stages = [Stage.from_dict(s) for s in d["stages"]]
        return cls(d["name"], d["source"], {s.name: s for s in stages}, d.get("cwd") or "")

    def places(self, store_root: str | Path) -> Places:
        from dii_hpc.records import pipeline as records

        return Places(Path(self.cwd or os.getcwd()), records.work_dir(store_root, self.name),
                      Path(store_root))


@dataclass(frozen=True)
class Places:
    """What a stage's strings point at when it runs: ``{work}``, ``{store}`` and the folder
    its command runs in. The stage job and the cache key both go through it, so that the key
    covers what the job will read."""

    cwd: Path
    work: Path
    store: Path

    def fill(self, value: Any, task: int | None = None) -> Any:
        """``value`` (a string, or a list/mapping of them) with its placeholders filled;
        ``{task}`` only for an array task."""
        if isinstance(value, dict):
            return {k: self.fill(v, task) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.fill(v, task) for v in value]
        if not isinstance(value, str):
            return value
        out = value.replace("{work}", str(self.work)).replace("{store}", str(self.store))
        return out.replace("{task}", str(task)) if task is not None else out

    def path(self, text: str) -> Path:
        """The file a command's argument names: relative to the folder the command runs in."""
        p = Path(text).expanduser()
        return p if p.is_absolute() else self.cwd / p


def command_argv(value: str | list[str]) -> list[str]:
    """A command stage's arguments, placeholders unfilled (a string is split as a shell does)."""
    return shlex.split(value) if isinstance(value, str) else list(value)


def resolve_path(text: str, cwd: Path, base: Path | None = None) -> str:
    """The absolute path of a file a stage names: as given when absolute; else under ``cwd``
    when it exists there (a glob: when something matches), then under ``base`` (the pipeline
    file's folder), else under ``cwd``. Strings with placeholders are left for `Places`."""
    if any(p in text for p in PLACEHOLDERS):
        return text
    p = Path(text).expanduser()
    if p.is_absolute():
        return str(p)
    pattern = any(ch in text for ch in "*?[")
    for root in (cwd, base) if base is not None else (cwd,):
        candidate = root / p
        if candidate.exists():
            return str(candidate.resolve())
        if pattern and glob.glob(os.path.join(glob.escape(str(root)), str(p))):
            return os.path.abspath(candidate)
    return os.path.abspath(cwd / p)


def stage_error(name: str, message: str) -> ConfigError:
    return ConfigError(f"stage {name}: {message}")


def load(path: str | Path) -> Pipeline:
    """Read a pipeline file (stage configs are checked by `checks`)."""
    from dii_hpc.config import typed

    raw, lines = typed.read(path)
    return parse(raw, str(path), lines, Path(path).resolve().parent)


def parse(raw: Any, source: str, lines: dict[KeyPath, int] | None = None,
          base: Path | None = None, cwd: Path | None = None) -> Pipeline:
    from dii_hpc.config import typed

    lines = lines or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a pipeline file is a mapping (pipeline:, stages:)")
    top = typed.validate(PipelineFile, raw, source=source, lines=lines)
    defaults = {**STAGE_DEFAULTS, **top.resources}
    cwd = (cwd or Path.cwd()).resolve()
    ctx = _Context(source, lines, base or cwd, cwd)
    stages = {str(n): _stage(str(n), body, defaults, tuple(top.setup), ctx)
              for n, body in top.stages.items()}
    return Pipeline(str(top.pipeline), source, stages, str(cwd))


@dataclass(frozen=True)
class _Context:
    source: str
    lines: dict[KeyPath, int]
    base: Path
    cwd: Path

    def at(self, name: str) -> str:
        line = self.lines.get(("stages", name))
        return f"{self.source}:{line}" if line else self.source

    def lines_of(self, name: str) -> dict[KeyPath, int]:
        """The stage's lines, keyed from the stage (errors name keys from there)."""
        return {k[2:]: v for k, v in self.lines.items() if k[:2] == ("stages", name)}

    def resolve(self, marker: Any, text: str) -> str:
        """A marked field's path made absolute (see `kind.Reads`, `Writes`, `ModelFile`)."""
        if isinstance(marker, Reads):
            return resolve_path(text, self.cwd, self.base)
        if isinstance(marker, Writes):
            return resolve_path(text, self.cwd)
        from dii_hpc.config import refs

        if not refs.is_ref(text) or not refs.parse(text).is_file:
            return text
        ref = refs.parse(text)
        return f"{resolve_path(ref.module, self.cwd, self.base)}:{ref.attr}"


def _stage(name: str, body: Any, defaults: dict[str, Any], setup: tuple[str, ...],
           ctx: _Context) -> Stage:
    from dii_hpc.config import typed

    known = ", ".join(STAGE_KINDS.names())
    if not _NAME.match(name):
        raise stage_error(name, f"{ctx.at(name)}: a stage name has letters, digits and -_. only")
    if not isinstance(body, dict):
        raise stage_error(name, f"{ctx.at(name)}: expected a mapping with one of {known}, "
                          f"not {body!r}")
    kinds = [k for k in body if k in STAGE_KINDS]
    if len(kinds) != 1:
        what = "two kinds: " + ", ".join(kinds) if kinds else "no kind"
        raise stage_error(name, f"{ctx.at(name)}: {what}; a stage has exactly one of {known}")
    kind = STAGE_KINDS.get(kinds[0])
    try:
        parsed = typed.validate(stage_model(kind), body, source=ctx.source,
                                lines=ctx.lines_of(name))
    except ConfigError as err:
        raise stage_error(name, str(err)) from err
    value = _resolved(parsed.value_, ctx)  # type: ignore[attr-defined]
    options = _resolved(kind.options.model_validate(
        parsed.model_dump(include=set(kind.options.model_fields))), ctx)
    common: Any = parsed
    stage = Stage(name, kind.name, value.model_dump(mode="json", by_alias=True, exclude_none=True),
                  options.model_dump(mode="json", by_alias=True, exclude_none=True),
                  tuple(common.needs), {**defaults, **common.resources},
                  (*setup, *common.setup))
    implicit = tuple(r for r in stage.upstream if r not in stage.needs)
    return Stage(name, kind.name, stage.value, stage.options, (*stage.needs, *implicit),
                 stage.resources, stage.setup)


def _resolved(model: BaseModel, ctx: _Context) -> BaseModel:
    """``model`` with the paths its marked fields name made absolute."""
    update = {m.field: ctx.resolve(m.marker, m.value)
              for marker in (Reads, Writes, ModelFile) for m in marked(model, marker)
              if isinstance(m.value, str)}
    return model.model_copy(update=update) if update else model
