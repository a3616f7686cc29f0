"""Pipeline YAML -> `Pipeline`: the shape of every stage, checked with one-line errors.

    pipeline: digits-lifecycle
    resources: {time: "00:20:00"}          # default of every stage job (a stage may override)
    stages:
      train:   {sweep: configs/quickstart.yaml, set: {params.epochs: 3}}
      best:    {select: {from: train, metric: val_acc, mode: max}, needs: [train]}
      evasion: {audit: configs/audit-digits-suite.yaml, suite: evasion, model_from: best}
      gate:    {promote: {name: digits, to: champion, policy: configs/policy.yaml}, needs: [evasion]}
      site:    {report: {}, needs: [gate]}

Each stage has exactly one kind key (`KINDS`); `needs` lists the stages it waits for, and the
stages it reads from (`select.from`, `register.from`, `model_from`) are needed implicitly.
Strings may hold ``{work}`` (a folder kept per pipeline name, for files stages hand on) and
``{store}``; they are filled in when the stage runs (`Places.fill`). Every file a stage's
config names (`PATHS`, a sweep or audit config, a `file.py:fn` model) is resolved once, here,
against the working directory, then the pipeline file's folder (`resolve_path`): the stage
job reads the absolute path recorded in the spec and the cache key hashes that same file. A
command runs in the working directory of `pipeline submit` (`Pipeline.cwd`), so its relative
arguments name files there (`Places.path`). Every error names the stage first.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dii_hpc.errors import ConfigError

KINDS = ("sweep", "select", "audit", "register", "gate", "promote", "profile", "predict",
         "report", "command")
COMMON = ("needs", "resources", "setup")
#: Keys a stage of each kind may have beside its kind key and COMMON.
OPTIONS: dict[str, tuple[str, ...]] = {
    "sweep": ("set",), "select": (), "register": (), "gate": (), "promote": (),
    "audit": ("suite", "attack", "params", "model_from", "set", "shards"),
    "profile": ("model_from",), "predict": ("model_from",), "report": (),
    "command": ("tasks", "each"),
}
#: Keys of the kind's own mapping: (required, optional).
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "select": (("from", "metric"), ("mode", "register")),
    "register": (("name", "from"), ("alias",)),
    "gate": (("name", "policy"), ("to",)),
    "promote": (("name", "to", "policy"), ()),
    "profile": (("name", "data"), ("config", "labels", "model")),
    "predict": (("data",), ("out", "config", "model", "monitor", "batch_size", "device")),
    "report": ((), ("out",)),
}
#: Fields of a kind's mapping that name a file the stage reads, and ones it writes.
PATHS: dict[str, tuple[str, ...]] = {
    "profile": ("data", "labels", "config"), "predict": ("data", "config"),
    "gate": ("policy",), "promote": ("policy",)}
OUTPUTS: dict[str, tuple[str, ...]] = {"predict": ("out",), "report": ("out",)}
TOP = ("pipeline", "stages", "resources", "setup")
STAGE_DEFAULTS = {"time": "00:30:00", "cpus_per_task": 1}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
PLACEHOLDERS = ("{work}", "{store}")


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    value: Any  # the kind key's value: a path, a mapping or a command
    options: dict[str, Any] = field(default_factory=dict)
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
        refs = [self.options.get("model_from")]
        if self.kind in ("select", "register"):
            refs.append(self.value.get("from"))
        return tuple(r for r in refs if r)


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
        from dii_hpc.pipeline import state

        return Places(Path(self.cwd or os.getcwd()), state.work_dir(store_root, self.name),
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
    """Read and check the shape of a pipeline file (stage configs: `checks`)."""
    from dii_hpc.config import yamlio

    raw, lines = yamlio.load(path)
    return parse(raw, str(path), lines, Path(path).resolve().parent)


def parse(raw: Any, source: str, lines: dict[Any, int] | None = None,
          base: Path | None = None, cwd: Path | None = None) -> Pipeline:
    lines = lines or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a pipeline file is a mapping (pipeline:, stages:)")
    for key in raw:
        if key not in TOP:
            raise ConfigError(f"{source}:{lines.get((key,), '?')}: unknown key {key!r}; "
                              f"known keys: {', '.join(TOP)}")
    name = raw.get("pipeline")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{source}: pipeline: give the pipeline a name (letters, digits, "
                          f"-_.), not {name!r}")
    stages = raw.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise ConfigError(f"{source}: stages: a mapping of stage name -> stage, not {stages!r}")
    defaults = {**STAGE_DEFAULTS, **_mapping(raw.get("resources"), f"{source}: resources")}
    setup = _strings(raw.get("setup"), f"{source}: setup")
    cwd = (cwd or Path.cwd()).resolve()
    ctx = _Context(source, lines, base or cwd, cwd)
    out = {str(n): _stage(str(n), body, defaults, setup, ctx) for n, body in stages.items()}
    return Pipeline(name, source, out, str(cwd))


@dataclass(frozen=True)
class _Context:
    source: str
    lines: dict[Any, int]
    base: Path
    cwd: Path

    def at(self, *path: str) -> str:
        line = self.lines.get(("stages", *path)) or self.lines.get(("stages", path[0]))
        return f"{self.source}:{line}" if line else self.source

    def path(self, text: str) -> str:
        """Absolute path of a file the stage reads (working dir first, then the file's dir)."""
        return resolve_path(text, self.cwd, self.base)

    def output(self, text: str) -> str:
        """Absolute path of a file or folder the stage writes (under the working dir)."""
        return resolve_path(text, self.cwd)

    def model(self, text: str) -> str:
        """A `path/to/file.py:fn` model reference with its file resolved like a path."""
        from dii_hpc.config import refs

        if not refs.is_ref(text) or not refs.parse(text).is_file:
            return text
        ref = refs.parse(text)
        return f"{self.path(ref.module)}:{ref.attr}"


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, not {value!r}")
    return dict(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, not {value!r}")
    return tuple(value)


def _stage(name: str, body: Any, defaults: dict[str, Any], setup: tuple[str, ...],
           ctx: _Context) -> Stage:
    if not _NAME.match(name):
        raise stage_error(name, f"{ctx.at(name)}: a stage name has letters, digits and -_. only")
    if not isinstance(body, dict):
        raise stage_error(name, f"{ctx.at(name)}: expected a mapping with one of "
                          f"{', '.join(KINDS)}, not {body!r}")
    kinds = [k for k in body if k in KINDS]
    if len(kinds) != 1:
        what = "two kinds: " + ", ".join(kinds) if kinds else "no kind"
        raise stage_error(name, f"{ctx.at(name)}: {what}; a stage has exactly one of "
                          f"{', '.join(KINDS)}")
    kind = kinds[0]
    allowed = (kind, *COMMON, *OPTIONS[kind])
    for key in body:
        if key not in allowed:
            raise stage_error(name, f"{ctx.at(name, key)}: unknown key {key!r} for a {kind} "
                              f"stage; known keys: {', '.join(allowed)}")
    if kind == "sweep" and "resources" in body:
        raise stage_error(name, f"{ctx.at(name, 'resources')}: a sweep's resources are its "
                          "config's (resources: there)")
    options = {k: body[k] for k in OPTIONS[kind] if k in body}
    value = _value(name, kind, body[kind], ctx)
    _options(name, kind, options, ctx)
    needs = _strings(body.get("needs"), f"stage {name}: needs")
    stage = Stage(name, kind, value, options, (), {**defaults, **_mapping(
        body.get("resources"), f"stage {name}: resources")},
        (*setup, *_strings(body.get("setup"), f"stage {name}: setup")))
    implicit = tuple(r for r in stage.upstream if r not in needs)
    return Stage(name, kind, value, options, (*needs, *implicit), stage.resources, stage.setup)


def _value(name: str, kind: str, value: Any, ctx: _Context) -> Any:
    where = ctx.at(name, kind)
    if kind in ("sweep", "audit"):
        if not isinstance(value, str) or not value:
            raise stage_error(name, f"{where}: {kind}: give the config file's path, not {value!r}")
        return ctx.path(value)
    if kind == "command":
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise stage_error(name, f"{where}: command: a command line or a list of arguments")
    if value is None and kind == "report":
        value = {}
    if not isinstance(value, dict):
        raise stage_error(name, f"{where}: {kind}: expected a mapping, not {value!r}")
    required, optional = FIELDS[kind]
    for key in value:
        if key not in (*required, *optional):
            raise stage_error(name, f"{ctx.at(name, kind, key)}: {kind}.{key}: unknown key; "
                              f"known keys: {', '.join((*required, *optional))}")
    missing = [k for k in required if value.get(k) in (None, "")]
    if missing:
        raise stage_error(name, f"{where}: {kind}: needs {', '.join(missing)}")
    out = dict(value)
    if kind == "select":
        out.setdefault("mode", "max")
        if out["mode"] not in ("max", "min"):
            raise stage_error(name, f"{ctx.at(name, kind, 'mode')}: select.mode: max or min, "
                              f"not {out['mode']!r}")
    for key in PATHS.get(kind, ()):
        if isinstance(out.get(key), str):
            out[key] = ctx.path(out[key])
    for key in OUTPUTS.get(kind, ()):
        if isinstance(out.get(key), str):
            out[key] = ctx.output(out[key])
    if isinstance(out.get("model"), str):
        out["model"] = ctx.model(out["model"])
    return out


def _options(name: str, kind: str, options: dict[str, Any], ctx: _Context) -> None:
    where = ctx.at(name)
    if kind == "audit":
        given = [k for k in ("suite", "attack") if options.get(k)]
        if len(given) != 1:
            raise stage_error(name, f"{where}: an audit stage names one `suite:` (evasion, "
                              "privacy, poisoning) or one `attack:`")
        if "set" in options:
            options["set"] = _mapping(options["set"], f"stage {name}: set")
        if "params" in options:
            options["params"] = _mapping(options["params"], f"stage {name}: params")
    if kind == "sweep" and "set" in options:
        options["set"] = _mapping(options["set"], f"stage {name}: set")
    if "model_from" in options and not isinstance(options["model_from"], str):
        raise stage_error(name, f"{where}: model_from: the name of a select or register stage")
    if kind == "command":
        tasks = options.get("tasks", 1)
        if not isinstance(tasks, int) or isinstance(tasks, bool) or tasks < 1:
            raise stage_error(name, f"{where}: tasks: a positive integer, not {tasks!r}")
        if options.get("each") not in (None, True, False):
            raise stage_error(name, f"{where}: each: true or false")
