"""The typed experiment config (pydantic v2): unknown keys and wrong types are errors.

One model per YAML section, all `extra="forbid"`, so a typo such as `modles:` or
`cpus_per_tsak:` is reported with its key path instead of being ignored.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dii_hpc import vocabulary as vocab
from dii_hpc.config import refs
from dii_hpc.slurm import gres as gresmod
from dii_hpc.slurm import timespec

_MEM = re.compile(r"^\d+(\.\d+)?[KMGT]?B?$", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClassSpec(_Strict):
    """A user class to instantiate: "module:Class" (or "module.Class") and its kwargs."""

    class_: str = Field(alias="class")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("class_")
    @classmethod
    def _class_ref(cls, v: str) -> str:
        if not refs.is_ref(v):
            raise ValueError(f"{v!r} is not a 'module:Class' reference")
        return v


class LoaderSpec(_Strict):
    """How a registered version of the model is loaded back: a factory taking ``weights=PATH``."""

    factory: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("factory")
    @classmethod
    def _factory_ref(cls, v: str) -> str:
        return ClassSpec._class_ref(v)


class ModelSpec(ClassSpec):
    """A model to train; ``loader`` is what `dii-hpc models register` records by default."""

    loader: str | LoaderSpec | None = None

    @field_validator("loader")
    @classmethod
    def _loader_ref(cls, v: str | LoaderSpec | None) -> str | LoaderSpec | None:
        return ClassSpec._class_ref(v) if isinstance(v, str) else v


class Distribution(_Strict):
    """One random-search distribution; exactly one of the fields is set."""

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None
    normal: tuple[float, float] | None = None
    choice: list[Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Distribution:
        set_ = [k for k, v in self.model_dump().items() if v is not None]
        if len(set_) != 1:
            raise ValueError("give exactly one of uniform, loguniform, randint, normal, choice")
        if self.loguniform is not None and min(self.loguniform) <= 0:
            raise ValueError("loguniform bounds must be > 0")
        return self


class RandomSweep(_Strict):
    n: int = Field(ge=1)
    seed: int = 0
    params: dict[str, Distribution]


SPACE_KINDS = ("log_uniform", "uniform", "int", "choice")


class SpaceEntry(_Strict):
    """One dimension of an adaptive sweep's search space; exactly one field is set.

    A mapping of its own (``lr: {log_uniform: [1e-4, 1e-1]}``) rather than Distribution, whose
    names (``loguniform``, ``randint``) are random search's: Optuna samples these, so they are
    checked here in its terms (bounds low first, log bounds above zero) before anything runs.
    """

    uniform: tuple[float, float] | None = None
    log_uniform: tuple[float, float] | None = None
    int_: tuple[int, int] | None = Field(default=None, alias="int")
    choice: list[Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise PydanticCustomError("space", "give one of {kinds}, e.g. {{log_uniform: [1e-4, "
                                      "1e-1]}}", {"kinds": ", ".join(SPACE_KINDS)})
        unknown = [k for k in v if k not in SPACE_KINDS]
        if unknown or len(v) != 1:
            what = f"unknown distribution {unknown[0]!r}" if unknown else "give exactly one"
            raise PydanticCustomError("space", "{what} (give one of {kinds})",
                                      {"what": what, "kinds": ", ".join(SPACE_KINDS)})
        return v

    @model_validator(mode="after")
    def _bounds(self) -> SpaceEntry:
        kind, value = self.kind
        if kind == "choice":
            if not value:
                raise PydanticCustomError("space", "choice needs at least one value")
            bad = [c for c in value if c is not None and not isinstance(c, (bool, int, float, str))]
            if bad:
                raise PydanticCustomError("space", "choice values must be numbers, strings, "
                                          "booleans or null; got {bad}", {"bad": repr(bad[0])})
            return self
        lo, hi = value
        if not lo < hi:
            raise PydanticCustomError("space", "{kind} bounds [{lo}, {hi}] are the wrong way "
                                      "round (give [low, high], low < high)",
                                      {"kind": kind, "lo": lo, "hi": hi})
        if kind == "log_uniform" and lo <= 0:
            raise PydanticCustomError("space", "log_uniform bounds must be > 0, got [{lo}, {hi}]",
                                      {"lo": lo, "hi": hi})
        return self

    @property
    def kind(self) -> tuple[str, Any]:
        """(the distribution's name as users write it, its bounds or choices)."""
        for name, field in (("uniform", "uniform"), ("log_uniform", "log_uniform"),
                            ("int", "int_"), ("choice", "choice")):
            if getattr(self, field) is not None:
                return name, getattr(self, field)
        raise AssertionError("validated SpaceEntry without a distribution")  # pragma: no cover

    def grid_values(self) -> list[Any] | None:
        """The values a grid walks (choices, or every integer of an int range); None for floats."""
        kind, value = self.kind
        if kind == "choice":
            return list(value)
        if kind == "int":
            return list(range(value[0], value[1] + 1))
        return None


class Optimize(_Strict):
    """An adaptive sweep: Optuna asks `n_trials` points of `space`, `parallel` workers run them.

    ``metric`` is the key the train_function logs (or returns); its last value is the trial's
    objective, and with a pruner each logged value is reported to the trial.
    """

    metric: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"]
    n_trials: int = Field(ge=1)
    parallel: int = Field(default=1, ge=1)
    sampler: Literal["tpe", "random", "cmaes", "grid"] = "tpe"
    pruner: Literal["none", "median", "asha", "hyperband"] = "none"
    seed: int = 0
    space: dict[str, SpaceEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _sizes(self) -> Optimize:
        if self.parallel > self.n_trials:
            raise PydanticCustomError("optimize", "parallel: {p} is above n_trials: {n} (a worker "
                                      "would have no trial to run)",
                                      {"p": self.parallel, "n": self.n_trials})
        if self.sampler == "grid":
            floats = [k for k, e in self.space.items() if e.grid_values() is None]
            if floats:
                raise PydanticCustomError("optimize", "sampler grid walks choice and int entries "
                                          "only; space.{key} is {kind}",
                                          {"key": floats[0], "kind": self.space[floats[0]].kind[0]})
            size = math.prod(len(e.grid_values() or []) for e in self.space.values())
            if self.n_trials > size:
                raise PydanticCustomError("optimize", "n_trials: {n} is above the {size} points "
                                          "of the grid", {"n": self.n_trials, "size": size})
        return self


class Sweep(_Strict):
    """grid (cartesian product), zip (lists walked together), random (n draws), seeds;
    or optimize (an adaptive sweep, on its own)."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    random: RandomSweep | None = None
    seeds: list[int] = Field(default_factory=list)
    optimize: Optimize | None = None

    @field_validator("grid", "zip")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        return v

    @model_validator(mode="after")
    def _zip_lengths(self) -> Sweep:
        lengths = {k: len(v) for k, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zip lists differ in length: {lengths}")
        return self

    @model_validator(mode="after")
    def _optimize_alone(self) -> Sweep:
        others = [k for k in ("grid", "zip", "random", "seeds") if getattr(self, k)]
        if self.optimize is not None and others:
            raise PydanticCustomError("optimize", "optimize cannot be combined with {others}: "
                                      "put those values in optimize.space (choice)",
                                      {"others": ", ".join(others)})
        return self

    def adaptive(self) -> Optimize:
        """`optimize` of an adaptive sweep, for code that runs only for one (its callers
        checked); a programming error otherwise."""
        if self.optimize is None:
            raise ValueError("not an adaptive sweep: the config has no sweep.optimize")
        return self.optimize


class Resources(_Strict):
    """What each task asks Slurm for (and how the local executor sizes itself).

    A task is one job of ``nodes`` x ``tasks_per_node`` processes (ranks); ``gpus`` is per
    node, ``gpus_per_task`` per rank (give one or the other), ``gres`` any typed generic
    resource per node (``gpu:a100:2``), parsed so that it can be checked against the cluster.
    """

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "00:30:00"
    nodes: int = Field(default=1, ge=1)
    tasks_per_node: int = 1
    cpus_per_task: int = Field(default=1, ge=1)
    mem: str | None = None
    gpus: int = Field(default=0, ge=0)
    gpus_per_task: int = Field(default=0, ge=0)
    gres: gresmod.Gres | None = None
    constraint: str | None = None
    exclusive: bool = False
    array_parallelism: int | None = Field(default=None, ge=1)
    signal_delay_s: int = Field(default=90, ge=1)  # warning before the limit; <= half of it
    max_requeues: int = Field(default=3, ge=0)
    sys_metrics_s: float = Field(default=10.0, ge=0)  # 0 turns the sampler off
    extra: dict[str, str | int | bool] = Field(default_factory=dict)  # more #SBATCH --key[=value]

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        if timespec.parse(str(v)) is None:  # ValueError for a malformed one
            raise ValueError(f"{v!r} is no limit; give a time (the partition's limit applies anyway)")
        return str(v)

    @field_validator("mem")
    @classmethod
    def _mem(cls, v: str | None) -> str | None:
        if v is not None and not _MEM.match(str(v)):
            raise ValueError(f"{v!r} is not a memory size (e.g. 2G, 512M)")
        return v

    @field_validator("tasks_per_node", mode="before")
    @classmethod
    def _tasks(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and v < 1:
            raise ValueError(f"{v!r} must be at least 1 (every node runs at least one task)")
        return v

    @field_validator("gres", mode="before")
    @classmethod
    def _gres(cls, v: Any) -> Any:
        if v is None or isinstance(v, gresmod.Gres):
            return v
        if isinstance(v, dict):
            return gresmod.Gres(**v)
        try:
            return gresmod.parse(str(v))
        except ValueError as err:
            raise ValueError(str(err)) from err

    @model_validator(mode="after")
    def _gpus_once(self) -> Resources:
        if self.gpus and self.gpus_per_task:
            raise ValueError("give gpus (per node) or gpus_per_task, not both")
        return self

    @property
    def world_size(self) -> int:
        """How many processes (ranks) one task runs."""
        return self.nodes * self.tasks_per_node

    @property
    def gpus_per_node(self) -> int:
        """GPUs one node of the task needs (from gpus, gpus_per_task or a gpu gres)."""
        if self.gpus:
            return self.gpus
        if self.gpus_per_task:
            return self.gpus_per_task * self.tasks_per_node
        return self.gres.count if self.gres is not None and self.gres.name == "gpu" else 0


class Tracking(_Strict):
    """How the ranks of a multi-process task log: rank 0 only, or every rank (`rank<k>/`)."""

    all_ranks: bool = False


class ExperimentConfig(_Strict):
    """The whole file; see configs/*.yaml for examples."""

    experiment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$", description=(
        "letters, digits, _ . -; starting with a letter or digit; at most 128 characters"))
    executor: str = "dii_hpc.launch.executor:Executor"
    kind: str = "train"
    models: dict[str, ModelSpec] = Field(min_length=1)
    datasets: dict[str, ClassSpec] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    sweep: Sweep = Field(default_factory=Sweep)
    resources: Resources = Field(default_factory=Resources)
    tracking: Tracking = Field(default_factory=Tracking)
    setup: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in vocab.KINDS:
            raise ValueError(f"{v!r} is not a run kind ({', '.join(vocab.KINDS)})")
        return v

    @field_validator("executor")
    @classmethod
    def _executor(cls, v: str) -> str:
        return ClassSpec._class_ref(v)
