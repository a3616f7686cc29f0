"""The audit's plug-in records: an `AttackSpec` per attack of every engine, a `Suite` per
threat (and per standard), and the two registries that hold them.

Why records: the threat, suite and attack switches used to be repeated in the engine, the
Slurm planning, the pipeline chain and the runner, and the copies drifted. Now an attack is
one record (its name, threat, engine, tasks, the model methods it calls as a Protocol, its
defaults scaled to the data, its doc and the function that runs it) and a suite is one
record (its attacks, shard keys, shard and merge functions, grading); the engine, Slurm
planning, pipelines, `audit list` and policies all look them up here.

Built-ins are the records defined in the modules of `BUILTIN` (a new attack is a record in
one file; nothing else lists it); plug-ins add theirs through the entry points
``dii_hpc.attacks`` and ``dii_hpc.suites`` (see `dii_hpc.plugins`). Attacks are keyed by
(name, engine): ``pgd`` runs on ART or on the torch engine, a plug-in may add a third.
This module imports nothing heavy: listing the records imports their modules, which keep
torch, ART and the like inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dii_hpc.audit.model.protocols import Predictor, Task, require
from dii_hpc.errors import BadInput
from dii_hpc.plugins import Family

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from dii_hpc.audit.core.data import Generator, Prepared
    from dii_hpc.audit.job import AuditJob

BUILTIN = ("dii_hpc.audit.evasion", "dii_hpc.audit.evasion.torch_engine",
           "dii_hpc.audit.evasion.autoattack", "dii_hpc.audit.privacy",
           "dii_hpc.audit.privacy.reference", "dii_hpc.audit.poisoning",
           "dii_hpc.audit.certification")
DEFAULT_ENGINE = "art"
#: One reference-model plan an attack or suite asks to have trained first
#: (`privacy.reference.training`).
Request = dict[str, Any]
ALL_TASKS = tuple(t.value for t in Task)
LABEL_TASKS = tuple(t.value for t in Task if not t.is_vision)
CLASSIFIERS = tuple(t.value for t in Task if t.is_classification)


@dataclass(frozen=True)
class Shape:
    """What an attack's defaults are scaled to: the model's task, value range and input."""

    task: Task
    clip_values: tuple[float, float]
    input_shape: tuple[int, ...]
    nb_classes: int | None = None
    native: bool = False  # the model offers ART's own estimator (torch wrappers)

    @property
    def span(self) -> float:
        return float(self.clip_values[1] - self.clip_values[0])

    @property
    def features(self) -> int:
        n = 1
        for d in self.input_shape:
            n *= int(d)
        return n


def shape_of(model: Predictor, native: bool = False) -> Shape:
    """The `Shape` of a model (``native``: ART's own estimator will serve)."""
    nb = getattr(model, "nb_classes", None)
    return Shape(Task.parse(model.task), (float(model.clip_values[0]), float(model.clip_values[1])),
                 tuple(int(d) for d in model.input_shape), int(nb) if nb else None, native)


@dataclass(frozen=True)
class Call:
    """One attack call: the audit, its prepared model and data, the user's parameters
    (the attack puts them over its defaults), and the generator that replaces evasion's
    blocked generation when MPI ranks or sample shards split it."""

    job: AuditJob | None
    prep: Prepared
    params: Mapping[str, Any] = field(default_factory=dict)
    generator: Generator | None = None

    @property
    def model(self) -> Any:
        return self.prep.model

    @property
    def seed(self) -> int:
        return self.prep.seed


@dataclass
class Outcome:
    """What an attack returns: its record (name, params, metrics, intervals, time_s, seeds),
    the samples it scored, and what a level II result shows beside it."""

    record: dict[str, Any]
    n_samples: int
    curves: dict[str, Any] = field(default_factory=dict)
    sanity: list[dict[str, Any]] = field(default_factory=list)
    summary: str | None = None
    params: dict[str, Any] | None = None  # the result's params, when not the record's
    extra: dict[str, Any] = field(default_factory=dict)  # more result keys (``exposed``)
    ok: np.ndarray | None = None  # per sample: still right under the attack (suites)
    x_adv: np.ndarray | None = None


def _no_defaults(shape: Shape) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class AttackSpec:
    """One attack of one engine.

    ``needs``: a Protocol naming the model methods it calls (checked before it runs, the
    missing ones named); ``defaults(shape)``: its parameters scaled to the data, which the
    user's ``--param`` override; ``run(spec, call) -> Outcome``; ``trains(job, prep)``: the
    reference models it needs trained first (one Slurm array with ``--executor slurm``);
    ``splits``: its work is one blocked generation (`core.randomness`) that MPI ranks and
    sample shards split through ``call.generator``; ``on_device``: it runs on the model's
    torch device, so an array task moves the model to its GPU first; ``options``: what its
    engine reads (an ART class path, ...)."""

    name: str
    threat: str
    engine: str
    tasks: tuple[str, ...]
    needs: type[Any]
    run: Callable[[AttackSpec, Call], Outcome]
    doc: str = ""
    defaults: Callable[[Shape], dict[str, Any]] = _no_defaults
    box: str = ""  # white | black (evasion)
    trains: Callable[[AuditJob, Prepared], list[Request]] | None = None
    splits: bool = False  # one blocked generation: MPI ranks and sample shards split it
    on_device: bool = False  # runs on the model's torch device (an array task's GPU)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.engine}"

    def applies(self, task: Task) -> bool:
        return task.value in self.tasks


@dataclass(frozen=True)
class Facts:
    """What planning knows of the model without building it (None: not known)."""

    task: Task | None = None
    retrainable: bool | None = None

    @classmethod
    def of(cls, model: Predictor) -> Facts:
        return cls(Task.parse(model.task), callable(getattr(model, "fit", None)))


def _never(job: AuditJob, shard: str) -> bool:
    return False


@dataclass(frozen=True)
class Grading:
    """A suite's letter grade: ``metric`` against thresholds for A, B, C, D (worse is E)."""

    metric: str
    thresholds: tuple[float, float, float, float]
    higher_is_better: bool
    doc: str = ""

    def grade(self, score: float | None) -> str | None:
        import math

        if score is None or not math.isfinite(score):
            return None
        for letter, cut in zip("ABCD", self.thresholds, strict=True):
            if (score >= cut) if self.higher_is_better else (score <= cut):
                return letter
        return "E"


@dataclass(frozen=True)
class Suite:
    """A level I suite (``audit suite NAME``), or a standard of one (``--standard NAME``).

    ``plan(job, facts)``: its shard keys for ``facts.task`` (a shard is an array task's
    work); ``blocked(job, shard)``: a shard whose work splits by samples (``sample_shards``);
    ``compute_shard(job, prep, shard, ck, generator)``: one shard into the checkpoint;
    ``check(job)``: its options, checked when the job is built (before anything loads);
    ``run(job, prep, generator, examples_dir, ck)``: the whole suite, which finds computed
    shards in ``ck`` (so it is also the merge); ``raw``: level III for ART class paths of
    this threat (``claims``: the ART module fragments of its classes)."""

    name: str
    threat: str
    doc: str
    tasks: tuple[str, ...]
    grading: Grading
    run: Callable[..., dict[str, Any]]
    plan: Callable[[AuditJob, Facts], list[str]]
    compute_shard: Callable[..., Any]
    blocked: Callable[[AuditJob, str], bool] = _never
    trains: Callable[[AuditJob, Prepared], list[Request]] | None = None
    check: Callable[[AuditJob], None] | None = None
    raw: Callable[..., dict[str, Any]] | None = None
    claims: tuple[str, ...] = ()
    standard: bool = False  # a standard of the `threat` suite (``--standard NAME``)
    mpi: bool = False  # its attacks' generation shards over ``--mpi`` ranks
    chain: bool = True  # planned before the model exists (``--no-wait``, pipelines)
    listing: Callable[[], list[str]] | None = None

    def applies(self, task: Task) -> bool:
        return task.value in self.tasks


ATTACKS: Family[AttackSpec] = Family("attack", AttackSpec, "dii_hpc.attacks", BUILTIN,
                                     key=lambda spec: spec.key)
SUITES: Family[Suite] = Family("suite", Suite, "dii_hpc.suites", BUILTIN)


# ---- lookups ------------------------------------------------------------------------------
def attack_names() -> list[str]:
    out: list[str] = []
    for spec in ATTACKS:
        if spec.name not in out:
            out.append(spec.name)
    return out


def engines() -> list[str]:
    out = [DEFAULT_ENGINE]
    for spec in ATTACKS:
        if spec.engine not in out:
            out.append(spec.engine)
    return out


def engine_splits(engine: str) -> bool:
    """Whether some attack of ``engine`` is one blocked generation that ``--mpi`` splits."""
    return any(spec.splits for spec in ATTACKS if spec.engine == engine)


def check_engine(engine: str | None) -> str:
    """``--engine``: one of the engines some attack runs on (one line otherwise)."""
    engine = engine or DEFAULT_ENGINE
    if engine not in engines():
        raise BadInput(f"--engine {engine!r}: expected one of {', '.join(engines())}")
    return engine


def attack(name: str, engine: str | None = None) -> AttackSpec:
    """The attack ``name`` on ``engine``; without one, its ART record, else its only one."""
    named = [s for s in ATTACKS if s.name == name]
    if not named:
        raise BadInput(f"unknown attack {name!r}; known: {', '.join(attack_names())} (or an "
                       "ART class path such as art.attacks.evasion.FastGradientMethod with "
                       "`dii-hpc audit run`)")
    if engine is None:
        if len(named) == 1:
            return named[0]
        engine = DEFAULT_ENGINE
    found = ATTACKS.find(f"{name}/{engine}")
    if found is None:
        on = [s.name for s in ATTACKS if s.engine == engine]
        raise BadInput(f"attack {name} has no {engine} engine implementation ({engine} engine: "
                       f"{', '.join(on)}); use --engine {named[0].engine}")
    return found


def on_engine(name: str, engine: str) -> AttackSpec:
    """Inside a suite: ``name`` on ``engine`` where that engine has it, else on ART."""
    return ATTACKS.find(f"{name}/{engine}") or attack(name, DEFAULT_ENGINE)


def check_task(spec: AttackSpec, task: Task) -> None:
    """One line when ``spec`` does not apply to ``task``, naming what does."""
    if spec.applies(task):
        return
    others = [s.name for s in ATTACKS if s.applies(task) and s.threat == spec.threat
              and s.engine == spec.engine]
    engines_ = [s.engine for s in ATTACKS if s.name == spec.name and s.applies(task)]
    if engines_ and spec.engine not in engines_:
        raise BadInput(f"attack {spec.name} on the {spec.engine} engine does not apply to "
                       f"{task.value}; use --engine {engines_[0]}")
    if task.is_regression and any(Task(t).is_classification for t in spec.tasks):
        raise BadInput(f"attack {spec.name} needs a classifier; on regressors use "
                       f"{', '.join(others)}")
    raise BadInput(f"attack {spec.name} does not apply to {task.value}; use one of "
                   f"{', '.join(others) or 'no ' + spec.threat + ' attack'}")


def check(spec: AttackSpec, model: Predictor, what: str | None = None) -> Task:
    """``spec`` can run on ``model``: its task, then the methods its Protocol names."""
    task = Task.parse(model.task)
    check_task(spec, task)
    require(model, spec.needs, what or f"attack {spec.name}")
    return task


def suites(standards: bool = False) -> list[Suite]:
    return [s for s in SUITES if s.standard == standards]


def suite(name: str) -> Suite:
    """The level I suite ``name`` (a standard is chosen with ``standard(name, threat)``)."""
    found = SUITES.find(name)
    if found is None or found.standard:
        raise BadInput(f"unknown suite {name!r}; known suites: "
                       f"{', '.join(s.name for s in suites())}")
    return found


def standard(name: str, threat: str) -> Suite:
    """``--standard NAME`` of ``suite THREAT``."""
    found = SUITES.find(name)
    if found is None or not found.standard:
        raise BadInput(f"--standard {name!r}: known standards: "
                       f"{', '.join(s.name for s in suites(standards=True))}")
    if found.threat != threat:
        raise BadInput(f"--standard {name} applies to `suite {found.threat}`, not {threat}")
    return found


def of_class_path(path: str, threat: str | None = None) -> Suite:
    """The suite whose threat an ART class path (level III) belongs to."""
    if threat:
        return suite(threat)
    for s in suites():
        if any(part in path for part in s.claims):
            return s
    return suite("evasion")


def check_suite_task(s: Suite, task: Task) -> None:
    if not s.applies(task) and s.standard:
        raise BadInput(f"--standard {s.name} does not apply to {task.value}; it takes "
                       f"{', '.join(s.tasks)}")
    if not s.applies(task):
        raise BadInput(f"suite {s.name!r} is not available for {task.value}; suites: "
                       f"{', '.join(x.name for x in suites() if x.applies(task))}")


def catalog() -> dict[str, list[str]]:
    """The names a policy may require (``audits: [{suite: ...}, {attack: ...}]``)."""
    return {"suite": [s.name for s in suites()], "attack": attack_names()}
