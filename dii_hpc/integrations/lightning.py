"""``Trainer(logger=DiiLogger("exp"))``: a PyTorch Lightning logger writing a dii-hpc run.

Hyper-parameters become params, every logged metric keeps the step Lightning gives it, and
checkpoints become artifacts (the best/last/top-k files at the end of fit, or every saved
one with ``log_checkpoints="all"``) - what Lightning's MLFlowLogger does with ``log_model``.
Only global rank 0 writes (Lightning's ``rank_zero_only``, as its own loggers do). Inside
a run that dii-hpc launched (``dii-hpc run``, the Executor) or under an open
``dii_hpc.start_run``, the logger writes into that run and leaves its end state to it.

The class is built on first use (module ``__getattr__``) so that importing this module, or
dii_hpc, does not import Lightning.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import StoreLike

_STATUS = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}


def __getattr__(name: str) -> Any:
    if name == "DiiLogger":
        return _logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _logger_class() -> type:
    try:
        from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
        from lightning.pytorch.utilities import rank_zero_only
    except ImportError as err:
        raise BadInput("DiiLogger needs Lightning: pip install 'dii-hpc[lightning]'") from err
    from lightning.fabric.utilities.logger import _convert_params, _sanitize_callable_params
    from lightning.pytorch.loggers.utilities import _scan_checkpoints

    class DiiLogger(Logger):
        """Log a Lightning Trainer's hyper-parameters, metrics and checkpoints to dii-hpc."""

        def __init__(self, experiment: str = "lightning", params: dict[str, Any] | None = None,
                     tags: dict[str, Any] | None = None, *, store: StoreLike = None,
                     run_id: str | None = None, log_checkpoints: bool | str = True,
                     prefix: str = "") -> None:
            super().__init__()
            if log_checkpoints not in (True, False, "all"):
                raise BadInput(f"DiiLogger: log_checkpoints={log_checkpoints!r}: use True, "
                               "False or 'all'")
            self._experiment_name, self._params, self._tags = experiment, params, tags
            self._store, self._run_id, self._prefix = store, run_id, prefix
            self._log_checkpoints = log_checkpoints
            self._run: Any = None
            self._owned = True
            self._checkpoint_callback: Any = None
            self._logged: dict[str, float] = {}

        @property
        def name(self) -> str:
            return self._run.experiment if self._run is not None else self._experiment_name

        @property
        def version(self) -> str:
            """The run id; asking for it never reopens a run that finalize ended."""
            if self._run_id is None and getattr(rank_zero_only, "rank", 0) == 0:
                return self.experiment.id
            return self._run_id or ""

        @property
        @rank_zero_experiment
        def experiment(self) -> Any:
            """The dii-hpc ``Run`` (opened on first use; reopened after a finalize, e.g. for
            ``trainer.test`` after ``trainer.fit``)."""
            if self._run is not None and not self._run.finished:
                return self._run
            from dii_hpc.tracking.exits import finish_at_exit
            from dii_hpc.tracking.fluent import active_run
            from dii_hpc.tracking.run import start_run

            outer = active_run() if self._run is None and self._run_id is None else None
            if outer is not None:
                self._run, self._owned = outer, False
                outer.log_params(dict(self._params or {}))
                outer.set_tags(dict(self._tags or {}))
            else:
                reopen = self._run is not None
                rid = self._run.id if reopen else self._run_id
                self._run = start_run(self._experiment_name, self._params, self._tags,
                                      store=self._store, run_id=rid)
                if reopen:  # e.g. trainer.validate() after fit, which may never finalize
                    finish_at_exit(self._run)
            self._run_id = self._run.id
            return self._run

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            clean = _sanitize_callable_params(_convert_params(params))
            self.experiment.log_params({str(k): _jsonable(v) for k, v in clean.items()})

        @rank_zero_only
        def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
            log = self.experiment.log_metric
            pre = f"{self._prefix}/" if self._prefix else ""
            for key, value in metrics.items():
                log(pre + key, value, step)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            if self._log_checkpoints == "all":
                self._scan(checkpoint_callback)
            elif self._log_checkpoints:
                self._checkpoint_callback = checkpoint_callback

        @rank_zero_only
        def _scan(self, callback: Any) -> None:
            run = self.experiment
            found = _scan_checkpoints(callback, self._logged)
            for when, path, _score, _tag in found:
                run.log_artifact(path, name=f"checkpoints/{_basename(path)}")
                self._logged[path] = when
            if found:
                run.set_section("checkpoints", {
                    "best": f"checkpoints/{_basename(callback.best_model_path)}"
                    if getattr(callback, "best_model_path", "") else None,
                    "best_score": _jsonable(getattr(callback, "best_model_score", None)),
                    "monitor": getattr(callback, "monitor", None),
                    "files": sorted(f"checkpoints/{_basename(p)}" for p in self._logged)})

        @rank_zero_only
        def save(self) -> None:
            if self._run is not None and not self._run.finished:
                self._run.flush()

        @rank_zero_only
        def finalize(self, status: str) -> None:
            if self._run is None or self._run.finished:
                return
            if self._checkpoint_callback is not None:
                self._scan(self._checkpoint_callback)
            if self._owned:
                self._run.finish(_STATUS.get(status, "KILLED"))
            else:
                self._run.flush()

    return DiiLogger


def _basename(path: str) -> str:
    import os

    return os.path.basename(path)


def _jsonable(value: Any) -> Any:
    """Tensors and numpy scalars as numbers; anything JSON does not know as its text."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 1) == 0:
        value = item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
