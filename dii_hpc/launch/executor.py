"""The Executor: the experiment design that feeds datasets to models and saves what comes back.

The default design is "each model x each dataset": one unit per pair, one run per unit and
sweep point.  Subclass and override ``units`` (which models/datasets meet in one run) and
``run_unit`` (what happens in it) for other designs, e.g. one run comparing every model on
one dataset.  The launcher only ever calls ``check``, ``units``, ``unit_params``, ``run_unit``
and ``save_result``; the class is named in the config as ``executor: module:Class``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.config import refs
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.config.schema import ExperimentConfig


@dataclass(frozen=True)
class Unit:
    """Which configured models and datasets take part in one run."""

    models: tuple[str, ...]
    datasets: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"models": list(self.models), "datasets": list(self.datasets)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Unit:
        return cls(tuple(d.get("models", ())), tuple(d.get("datasets", ())))


class Executor:
    """Default experiment design: each model x each dataset, one run per pair."""

    #: Folders to find the config's classes in after sys.path (the config's own folder); set
    #: by whoever builds the executor (submit, the task), so subclasses keep their __init__.
    search: Sequence[str] = ()

    def __init__(self, config: ExperimentConfig, restore_states: dict[str, Any] | None = None):
        self.config = config
        self.active_models: dict[str, Any] = {}
        self._restore = dict(restore_states or {})

    # ----------------------------------------------------------------- design
    def check(self) -> None:
        """Resolve every class and check its required method, before anything is queued."""
        for name, spec in self.config.models.items():
            refs.resolve(spec.class_, f"models.{name}.class", require=("train_function",), what="model",
                         search=self.search)
        for name, dspec in self.config.datasets.items():
            refs.resolve(dspec.class_, f"datasets.{name}.class", require=("get_dataset",), what="dataset",
                         search=self.search)

    def units(self) -> list[Unit]:
        """Each model x each dataset (each model alone when no dataset is configured)."""
        datasets: list[str | None] = [*self.config.datasets] or [None]
        return [Unit((m,), (d,) if d else ()) for m in self.config.models for d in datasets]

    def unit_params(self, unit: Unit) -> dict[str, Any]:
        """What identifies the unit among a run's params (shown by `runs list`)."""
        out: dict[str, Any] = {"model": ",".join(unit.models)}
        if unit.datasets:
            out["dataset"] = ",".join(unit.datasets)
        return out

    # --------------------------------------------------------------- building
    def make_model(self, name: str) -> Any:
        """Instantiate a configured model; restore its state after a requeue."""
        spec = self._spec(self.config.models, name, "model")
        cls = refs.resolve(spec.class_, f"models.{name}.class", require=("train_function",), what="model",
                         search=self.search)
        model = cls(**spec.params)
        if name in self._restore and callable(getattr(model, "restore", None)):
            model.restore(self._restore[name])
        self.active_models[name] = model
        return model

    def load_dataset(self, name: str) -> Any:
        spec = self._spec(self.config.datasets, name, "dataset")
        cls = refs.resolve(spec.class_, f"datasets.{name}.class", require=("get_dataset",), what="dataset",
                         search=self.search)
        return cls(**spec.params).get_dataset()

    @staticmethod
    def _spec(section: dict[str, Any], name: str, what: str) -> Any:
        if name not in section:
            raise BadInput(f"unknown {what} {name!r}: configured are {', '.join(section) or 'none'}")
        return section[name]

    # ----------------------------------------------------------------- running
    def run_unit(self, unit: Unit, run: Any, params: dict[str, Any]) -> Any:
        """Default: one model, one dataset -> ``model.train_function(data, run=run, **params)``."""
        if len(unit.models) != 1 or len(unit.datasets) > 1:
            raise BadInput(f"{type(self).__name__}.run_unit handles one model and at most one "
                           f"dataset; override run_unit for unit {unit.to_dict()}")
        model = self.make_model(unit.models[0])
        args = (self.load_dataset(unit.datasets[0]),) if unit.datasets else ()
        for name, data in zip(unit.datasets, args, strict=False):
            self.record_input(run, name, data)
        return model.train_function(*args, run=run, **params)

    def record_input(self, run: Any, name: str, data: Any) -> None:
        """Lineage: the dataset's content hash, shape and source (its reference) on the run."""
        if run is None or not callable(getattr(run, "log_input", None)):
            return
        spec = self.config.datasets.get(name)
        source = None
        if spec is not None:
            args = ", ".join(f"{k}={v!r}" for k, v in spec.params.items())
            source = f"{spec.class_}({args})"
        run.log_input(name, data, source=source)

    def save_result(self, run: Any, result: Any) -> None:
        """Numbers -> the run's summary (`Run.log_result`: a history point only for a key
        the run never logged), paths of existing files -> artifacts, the rest -> `result`."""
        if result is None:
            return
        if not isinstance(result, dict):
            result = {"result": result}
        rest: dict[str, Any] = {}
        values: dict[str, float] = {}
        for key, value in _flatten(result).items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                values[key] = float(value)
            elif isinstance(value, (str, os.PathLike)) and _is_file(value):
                run.log_artifact(value)
            else:
                rest[key] = value if isinstance(value, (str, int, float, bool)) else repr(value)
        if values:
            run.log_result(values)
        if rest:
            run.set_section("result", rest)

    # ------------------------------------------------------------- checkpoints
    def checkpointable(self, unit: Unit) -> bool:
        """True when every model class of the unit has both checkpoint() and restore()."""
        for name in unit.models:
            cls = refs.resolve(self.config.models[name].class_, f"models.{name}.class", search=self.search)
            if not (callable(getattr(cls, "checkpoint", None))
                    and callable(getattr(cls, "restore", None))):
                return False
        return True

    def checkpoint(self) -> dict[str, Any]:
        """States of the models in use, for ``restore`` after the requeue."""
        return {name: model.checkpoint() for name, model in self.active_models.items()
                if callable(getattr(model, "checkpoint", None))}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _is_file(value: Any) -> bool:
    try:
        return len(str(value)) < 4096 and Path(value).is_file()
    except (OSError, ValueError):
        return False
