"""``Trainer(..., callbacks=[DiiCallback("exp")])``: a Hugging Face Trainer run in dii-hpc.

The TrainingArguments and the model's config become params (``model`` holds the config),
every numeric value of the Trainer's logs becomes a metric at ``state.global_step``, and at
the end of training the final model (``save_pretrained``, with the tokenizer/processor when
the Trainer has one) is stored as artifacts under ``model/``. Only the world's process 0
writes. Inside a run dii-hpc launched, the callback writes into that run.

``TrainingArguments(report_to=["dii-hpc"])`` works in any process that imported dii_hpc.
transformers looks a ``report_to`` name up in one dict, ``INTEGRATION_TO_CALLBACK`` of
``transformers.integrations.integration_utils``, when the Trainer is built; it has no plug-in
mechanism. So ``import dii_hpc`` calls `register`, which adds the name to that dict at once
when the module is already loaded, and otherwise the moment it is loaded (a finder that only
watches for that one module name; transformers itself is never imported early). That path
creates the callback without arguments: the experiment comes from ``$DII_HPC_EXPERIMENT``
(default "transformers").
"""

from __future__ import annotations

import functools
import importlib.abc
import os
import sys
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import StoreLike

REPORT_TO = "dii-hpc"
DEFAULT_EXPERIMENT = "transformers"


def __getattr__(name: str) -> Any:
    if name == "DiiCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register() -> None:
    """Make ``report_to=["dii-hpc"]`` name DiiCallback: now if transformers' integrations are
    loaded, else when they load (see the module doc)."""
    module = sys.modules.get(_INTEGRATIONS)
    if module is not None and hasattr(module, "INTEGRATION_TO_CALLBACK"):
        _add(module)
    elif not any(isinstance(finder, _OnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OnImport())


_INTEGRATIONS = "transformers.integrations.integration_utils"


def _add(module: Any) -> None:
    try:
        module.INTEGRATION_TO_CALLBACK.setdefault(REPORT_TO, _callback_class())
    except Exception as err:  # noqa: BLE001 - never break the user's transformers import
        import warnings

        warnings.warn(f"dii-hpc: report_to=['dii-hpc'] is unavailable: {err}", stacklevel=2)


class _OnImport:
    """A meta path finder that only answers for transformers' integrations module: it finds
    it the way the other finders do and wraps the loader so the name is added once it ran."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _INTEGRATIONS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Registering(spec.loader)
                return spec
        return None


class _Registering(importlib.abc.Loader):
    """The module's own loader, then `_add`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        _add(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename...: the loader's own
        return getattr(self.inner, name)


@functools.cache
def _callback_class() -> type:
    try:
        from transformers import TrainerCallback
    except ImportError as err:
        raise BadInput("DiiCallback needs transformers: pip install 'dii-hpc[transformers]'"
                       ) from err

    class DiiCallback(TrainerCallback):
        """Send a Trainer's arguments, logs and final model to a dii-hpc run."""

        def __init__(self, experiment: str | None = None, params: dict[str, Any] | None = None,
                     tags: dict[str, Any] | None = None, *, store: StoreLike = None,
                     run_id: str | None = None, log_model: bool = True) -> None:
            self.experiment = experiment or os.environ.get("DII_HPC_EXPERIMENT",
                                                           DEFAULT_EXPERIMENT)
            self._params, self._tags, self._store = params, tags, store
            self._run_id, self._log_model = run_id, log_model
            self.run: Any = None
            self._owned = True

        def _open(self, args: Any, model: Any) -> Any:
            if self.run is not None and not self.run.finished:
                return self.run
            from dii_hpc.tracking.exits import finish_at_exit
            from dii_hpc.tracking.fluent import active_run
            from dii_hpc.tracking.run import start_run

            tags = {**({"name": args.run_name} if getattr(args, "run_name", None) else {}),
                    **(self._tags or {})}
            outer = active_run() if self._run_id is None and self.run is None else None
            if outer is not None:
                self.run, self._owned = outer, False
                outer.set_tags(tags)
            else:
                reopen = self.run is not None
                rid = self.run.id if reopen else self._run_id
                self.run = start_run(self.experiment, tags=tags, store=self._store, run_id=rid)
                if reopen:  # trainer.evaluate() after train: logs again, never ends it
                    finish_at_exit(self.run)
            self.run.log_params({**_arguments(args, model), **(self._params or {})})
            return self.run

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                           **kwargs: Any) -> None:
            if state.is_world_process_zero:
                self._open(args, model)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   model: Any = None, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            log = self._open(args, model).log_metric
            for key, value in (logs or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    log(key, value, state.global_step)

        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None,
                         **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            run = self._open(args, model)
            if self._log_model and hasattr(model, "save_pretrained"):
                _log_model(run, model, kwargs.get("processing_class") or kwargs.get("tokenizer"))
            if self._owned:
                run.finish("FINISHED")
            else:
                run.flush()

    return DiiCallback


def _arguments(args: Any, model: Any) -> dict[str, Any]:
    """TrainingArguments as plain values, and the model's config under ``model``."""
    out = {k: _plain(v) for k, v in args.to_dict().items()}
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        out["model"] = {k: _plain(v) for k, v in config.to_dict().items()}
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _log_model(run: Any, model: Any, processor: Any) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="dii-hf-model-") as tmp:
        model.save_pretrained(tmp)
        if processor is not None and hasattr(processor, "save_pretrained"):
            processor.save_pretrained(tmp)
        for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            run.log_artifact(path, name=f"model/{path.relative_to(tmp).as_posix()}")
