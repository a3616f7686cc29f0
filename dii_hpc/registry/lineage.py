"""What a version records about where it came from, read from its training run.

The training run (id, experiment, status, params, last metrics), the resolved config and the
code version (git commit + dirty flag) from the run's manifest, the weights artifact (name,
sha256, size), the inputs the run read (``run.log_input``), and the loader: the
"module:callable" factory (plus params) that turns the weights back into a model.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any

from dii_hpc.config import refs
from dii_hpc.errors import BadInput
from dii_hpc.registry import layout

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

WEIGHT_NAMES = ("model.pt", "weights.pt", "state_dict.pt", "model.pth")
WEIGHTS_PARAM = "weights"  # the loader keyword that receives the weights file's path


def weights_artifact(arts: dict[str, dict[str, Any]], artifact: str | None,
                     where: str) -> tuple[str, dict[str, Any]]:
    """(name, meta) of the artifact holding a run's weights: the named one, or the only candidate."""
    if artifact is None:
        named = [n for n in WEIGHT_NAMES if n in arts]
        choices = named or [n for n in arts if n.endswith((".pt", ".pth"))]
        if len(choices) != 1:
            what = ", ".join(sorted(arts)) or "none"
            raise BadInput(f"{where}: cannot tell which artifact holds the weights "
                           f"(artifacts: {what}); name it with --artifact")
        artifact = choices[0]
    if artifact not in arts:
        raise BadInput(f"{where}: no artifact {artifact!r} "
                       f"(artifacts: {', '.join(sorted(arts)) or 'none'})")
    return artifact, arts[artifact]


def _model_spec(record: dict[str, Any]) -> dict[str, Any]:
    """The config entry of the model the run trained (the Executor's ``model`` param)."""
    config = (record.get("manifest") or {}).get("config") or {}
    models = config.get("models") or {}
    chosen = str((record.get("params") or {}).get("model") or "")
    if chosen in models:
        return models[chosen] or {}
    return next(iter(models.values())) if len(models) == 1 else {}


def _accepted(factory: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The params ``factory`` takes (all of them when it has ``**kwargs``)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return dict(params)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(params)
    return {k: v for k, v in params.items() if k in sig.parameters and k != WEIGHTS_PARAM}


def loader(record: dict[str, Any], given: str | None, given_params: dict[str, Any],
           where: str) -> dict[str, Any]:
    """The factory that loads this version: ``--loader``, else the config's ``models.X.loader``.

    It is called with the trained model's params (those it accepts), the loader's own params
    and ``weights=<path of the registered weights>``, as audit configs call model factories.
    """
    spec = _model_spec(record)
    configured = spec.get("loader")
    if given is None and not configured:
        raise BadInput(f"{where}: no loader recorded; give --loader module:callable (a factory "
                       "taking weights=PATH) or set models.<name>.loader in the run's config")
    own: dict[str, Any] = {}
    factory: object
    if given is not None:
        factory, key = given, "--loader"
    elif isinstance(configured, dict):
        factory, key = configured.get("factory"), "models.loader"
        own = dict(configured.get("params") or {})
    else:
        factory, key = configured, "models.loader"
    factory = refs.canonical(str(factory), key)
    target = refs.resolve(factory, key)
    if not callable(target):
        raise BadInput(f"{key}: {factory!r} is not callable")
    params = {**_accepted(target, dict(spec.get("params") or {})), **own, **given_params}
    params.pop(WEIGHTS_PARAM, None)
    return {"factory": factory, "params": params, "weights_param": WEIGHTS_PARAM}


def _code(manifest: dict[str, Any]) -> dict[str, Any] | None:
    git = manifest.get("git") or {}
    if not git.get("commit"):
        return None
    return {"commit": git["commit"], "dirty": bool(git.get("dirty")),
            "branch": git.get("branch") or None}


def from_run(store: Store, run_id: str, *, artifact: str | None = None,
             loader_ref: str | None = None, loader_params: dict[str, Any] | None = None,
             description: str | None = None) -> dict[str, Any]:
    """The lineage part of a new version of a model trained by ``run_id``."""
    record = store.run(run_id)  # NotFound with close ids for a mistyped one
    rid = record["run_id"]
    where = f"run {rid}"
    name, meta = weights_artifact(store.artifacts(rid), artifact, where)
    manifest = record.get("manifest") or {}
    return {
        "created": time.time(), **layout.who(), "description": description,
        "run_id": rid, "experiment": record.get("experiment"),
        "run": {"status": record.get("status"), "kind": record.get("kind"),
                "start_time": record.get("start_time"), "end_time": record.get("end_time"),
                "params": record.get("params") or {},
                "metrics": {k: v.get("last") for k, v in (record.get("metrics") or {}).items()
                            if isinstance(v, dict)}},
        "config": manifest.get("config"), "code": _code(manifest),
        "weights": {"artifact": name, "sha256": meta["sha256"], "size": meta.get("size")},
        "inputs": record.get("inputs") or {},
        "loader": loader(record, loader_ref, dict(loader_params or {}), where),
    }
