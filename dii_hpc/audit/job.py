"""`AuditJob`: one audit, typed and built once, that every placement passes around.

A job is built once where the audit is asked for (the CLI, a pipeline stage): the config is
read (`config.AuditConfig`), the model reference resolved and a registered version pinned
(`model.ref.ModelRef`), the level, the suite or attack and the engine and standard options
checked. In-process runs, MPI ranks (as JSON), Slurm array tasks and the chain's merge job
(pickled by submitit) all receive the same frozen object, so they compute the same thing;
its `key` names its checkpoint in the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.audit.config import AuditConfig
from dii_hpc.audit.model.protocols import Task
from dii_hpc.audit.model.ref import ModelRef
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.specs import AttackSpec, Suite

LEVELS = ("I", "II", "III")
EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class ArrayTasks:
    """The chain's merge job: the shard array it follows ([job id, shard] per task)."""

    tasks: tuple[tuple[str, str], ...]
    folder: str


@dataclass(frozen=True)
class AuditJob:
    """What to audit (``config``, ``model``), which audit (``level``: I suite, II named
    attack, III ART class path; ``name``; attack ``params``) and where (``executor``,
    ``partition``, ``mpi`` ranks). ``run_id``/``array``: the chain's merge job."""

    config: AuditConfig
    model: ModelRef
    level: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    executor: str = "local"
    partition: str | None = None
    mpi: int = 1
    resume: bool = True
    run_id: str | None = None
    array: ArrayTasks | None = None

    # ---- what it audits -------------------------------------------------------------------
    @property
    def experiment(self) -> str:
        return self.config.experiment

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def engine(self) -> str:
        return self.config.engine or "art"

    @property
    def parent_run(self) -> str | None:
        """The audited model's training run: the config's, else a registered version's."""
        return self.config.parent_run or self.model.run_id

    @property
    def task(self) -> Task | None:
        """The task as known without building the model: the config's, else the model
        reference's (None: the model will say, on the compute side)."""
        known = self.config.task or self.model.task
        return Task.parse(known) if known else None

    @property
    def threat(self) -> str:
        """The threat it assesses: its suite's, its attack's, or its ART class path's."""
        if self.level != "I" and "." not in self.name:
            return self.attack().threat
        return self.suite().threat

    def suite(self) -> Suite:
        """Its `Suite` record: level I the suite (or the standard) it runs, else the suite of
        its threat (level III: the threat an ART class path belongs to)."""
        from dii_hpc.audit import specs

        if self.level == "I":
            if self.config.standard:
                return specs.standard(self.config.standard, self.name)
            return specs.suite(self.name)
        if "." in self.name:
            return specs.of_class_path(self.name, self.config.threat)
        return specs.suite(self.attack().threat)

    def attack(self) -> AttackSpec:
        """Its `AttackSpec` record (level II, or III with a catalogue name) on its engine."""
        from dii_hpc.audit import specs

        return specs.attack(self.name, self.config.engine)

    def raw_threats(self) -> list[str]:
        """The threats whose ART classes level III runs."""
        from dii_hpc.audit import specs

        return [s.threat for s in specs.suites() if s.raw is not None]

    def data(self) -> Any:
        """The audit dataset (built from the config's reference, looked for beside it)."""
        from dii_hpc.config import refs

        return refs.build(self.config.data, "data", search=self.model.search)

    # ---- derived jobs ---------------------------------------------------------------------
    def replace(self, **changes: Any) -> AuditJob:
        return dataclasses.replace(self, **changes)

    def with_parent(self, run_id: str | None) -> AuditJob:
        """The job with ``run_id`` as the audited model's training run (unless it names one)."""
        if not run_id or self.config.parent_run:
            return self
        return self.replace(config=self.config.model_copy(update={"parent_run": run_id}))

    # ---- identity and records -------------------------------------------------------------
    def key(self) -> str:
        """Everything that changes its numbers (not where it runs, nor its experiment)."""
        ident = {"level": self.level, "name": self.name, "params": self.params,
                 "config": self.config.model_dump(mode="json",
                                                  exclude={"experiment", "parent_run"}),
                 "search": list(self.model.search)}
        text = json.dumps(ident, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def record(self) -> dict[str, Any]:
        """The config as the result records it (`result["config"]`)."""
        out = self.config.model_dump(mode="json", exclude_none=True)
        if self.config.resources is not None:
            out["resources"] = self.config.resources.model_dump(mode="json", exclude_unset=True)
        if self.model.search:
            out["config_dir"] = self.model.search[0]
        if self.parent_run:
            out["parent_run"] = self.parent_run
        return out | {"level": self.level, ("suite" if self.level == "I" else "attack"):
                      self.name, "params": dict(self.params)}

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["config"] = self.config.model_dump(mode="json", exclude_unset=True)
        out["model"] = self.model.to_json()
        out["array"] = dataclasses.asdict(self.array) if self.array else None
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AuditJob:
        array = raw.get("array")
        return cls(**{**raw, "config": AuditConfig.model_validate(raw["config"]),
                      "model": ModelRef.from_json(raw["model"]),
                      "array": ArrayTasks(tuple(tuple(t) for t in array["tasks"]),
                                          array["folder"]) if array else None})


# ---- building -----------------------------------------------------------------------------
def build(config: AuditConfig, level: str, name: str, params: dict[str, Any] | None = None,
          *, config_dir: str | None = None, executor: str = "local",
          partition: str | None = None, mpi: int = 1) -> AuditJob:
    """The job: the model reference resolved (a registered version pinned, its run the
    parent), the level and name checked."""
    if level not in LEVELS:
        raise BadInput(f"level={level!r} must be I, II or III")
    if executor not in EXECUTORS:
        raise BadInput(f"--executor {executor!r}: expected {' or '.join(EXECUTORS)}")
    if mpi < 1:
        raise BadInput(f"--mpi {mpi}: needs at least 1 rank")
    model = ModelRef.resolve(config.model or "", (config_dir,) if config_dir else ())
    config = config.model_copy(update={"model": model.spec})
    job = AuditJob(config, model, level, str(name), dict(params or {}), executor, partition,
                   mpi)
    _check_name(job)
    return job


def _check_name(job: AuditJob) -> None:
    """The suite, standard or attack exists (one line with the known names otherwise)."""
    if job.level == "III" and "." in job.name:
        job.suite()
    elif job.level == "III":
        job.attack()
    else:
        job.threat  # noqa: B018 - looks the records up


def level_of(config: AuditConfig) -> str:
    """Explicit `level`, else: a suite -> I, an ART class path -> III, an attack name -> II."""
    if config.level:
        return config.level
    if config.suite:
        return "I"
    if not config.attack:
        raise BadInput("the config names neither `suite` nor `attack`")
    return "III" if "." in config.attack else "II"


def config_dir(path: str | Path | None) -> str | None:
    """The folder the config's "module:callable" references are also looked for in."""
    return str(Path(path).resolve().parent) if path else None


def from_config(path: str | Path | None, overrides: dict[str, Any] | None = None, *,
                level: str | None = None, name: str | None = None,
                params: dict[str, Any] | None = None, suite_params: dict[str, Any] | None = None,
                options: dict[str, str] | None = None, **placement: Any) -> AuditJob:
    """A job from a config file and ``overrides``; without ``level``/``name`` they come from
    the config (`audit run`). ``params`` (an attack's) go over the config's ``params``;
    ``suite_params`` (--eps, --norm of a standard) into the config's own."""
    from dii_hpc.audit.config import load

    config = load(path, overrides, options)
    if suite_params:
        config = config.model_copy(update={"params": {**config.params, **suite_params}})
    level = level or level_of(config)
    if name is None:
        name = config.suite if level == "I" else config.attack
    if not name:
        raise BadInput("the config names neither `suite` nor `attack`")
    return build(config, level, name, {**config.params, **(params or {})},
                 config_dir=config_dir(path), **placement)


def of(config: dict[str, Any] | AuditConfig, level: str, name: str,
       params: dict[str, Any] | None = None, *, config_dir: str | None = None,
       **placement: Any) -> AuditJob:
    """A job from a config mapping (the Python API, tests): validated as a file would be."""
    if not isinstance(config, AuditConfig):
        from dii_hpc.config import typed

        config = typed.validate(AuditConfig, dict(config))
    return build(config, level, name, params, config_dir=config_dir, **placement)


# ---- the command line's jobs (the CLI parses, calls these, prints) -----------------------
def _placement(executor: str, mpi: int, engine: str | None, standard: Suite | None) -> None:
    """--executor, --engine and --mpi: a standard or an engine whose attacks are not one
    blocked generation (`AttackSpec.splits`) runs on one rank."""
    from dii_hpc.audit.specs import check_engine, engine_splits

    if engine is not None:
        check_engine(engine)
    if executor not in EXECUTORS:
        raise BadInput(f"--executor {executor!r}: expected {' or '.join(EXECUTORS)}")
    if mpi <= 1:
        return
    what = (f"--standard {standard.name}" if standard is not None and not standard.mpi
            else f"--engine {engine}" if engine is not None and not engine_splits(engine)
            else None)
    if what:
        raise BadInput(f"{what} does not shard over --mpi; use --executor slurm "
                       "(one array task per shard, on its GPU)")


def _budget(standard: Suite | None, eps: str | None, norm: str | None) -> dict[str, Any]:
    """--eps/--norm: the budget of a standard (the suite's own is fixed), checked now."""
    from dii_hpc.audit.evasion.generate import parse_norm
    from dii_hpc.audit.model.validate import parse_eps
    from dii_hpc.audit.specs import suites

    if standard is None and (eps is not None or norm is not None):
        known = " or ".join(f"--standard {s.name}" for s in suites(standards=True))
        raise BadInput("--eps and --norm set the budget of --standard (the suite's own "
                       f"budget is fixed); add {known}")
    if eps is not None:
        parse_eps(eps, "--eps")
    if norm is not None:
        parse_norm(norm)
    return {k: v for k, v in (("eps", eps), ("norm", norm)) if v is not None}


def for_suite(threat: str, path: str | None, overrides: dict[str, Any] | None = None, *,
              standard: str | None = None, eps: str | None = None, norm: str | None = None,
              engine: str | None = None, executor: str = "local",
              partition: str | None = None, mpi: int = 1) -> AuditJob:
    """`audit suite THREAT`: its options checked before anything loads (one line, exit 2)."""
    from dii_hpc.audit import specs

    specs.suite(threat)
    chosen = specs.standard(standard, threat) if standard is not None else None
    budget = _budget(chosen, eps, norm)
    _placement(executor, mpi, engine, chosen)
    job = from_config(path, {**(overrides or {}), "engine": engine, "standard": standard},
                      level="I", name=threat, suite_params=budget, executor=executor,
                      partition=partition, mpi=mpi)
    found = job.suite()
    if found.check is not None:  # before reference models or an array are submitted
        found.check(job)
    return job


def for_attack(name: str, path: str | None, overrides: dict[str, Any] | None = None, *,
               params: dict[str, Any] | None = None, engine: str | None = None,
               executor: str = "local", partition: str | None = None,
               mpi: int = 1) -> AuditJob:
    """`audit attack NAME`: ``params`` (``--param``) over the config's."""
    from dii_hpc.audit.specs import ATTACKS, attack, check_engine

    spec = attack(name, check_engine(engine) if engine else None)
    if executor == "slurm" and spec.trains is None:
        trains = list(dict.fromkeys(s.name for s in ATTACKS if s.trains is not None))
        raise BadInput(f"--executor slurm: attack {name} runs in-process; the array trains "
                       f"the reference models of {', '.join(trains)}")
    _placement(executor, mpi, engine, None)
    return from_config(path, {**(overrides or {}), "engine": engine}, level="II", name=name,
                       params=params, executor=executor, partition=partition, mpi=mpi)


def for_run(path: str, overrides: dict[str, Any] | None = None, *, mpi: int = 1) -> AuditJob:
    """`audit run CONFIG`: the level, suite or attack and params the config names."""
    return from_config(path, overrides, mpi=mpi)


def for_stage(path: str | Path, overrides: dict[str, Any] | None = None, *,
              suite: str | None = None, attack: str | None = None,
              params: dict[str, Any] | None = None) -> AuditJob:
    """A pipeline stage's job: its config with the stage's ``set:`` over it (named as keys,
    not options), its suite, or its attack with ``params`` over the config's."""
    if suite:
        return from_config(path, overrides, level="I", name=suite, options={})
    return from_config(path, overrides, level="II", name=attack, params=params, options={})
