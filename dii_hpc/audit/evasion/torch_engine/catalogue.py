"""`--engine torch` for the catalogue attacks: same names, defaults and record as ART's.

One `AttackSpec` per attack the engine has (engine ``torch``): its parameters are the ART
record's defaults scaled to the data and the user's overrides, validated once
(`evasion.generate.attack_params`), so `audit attack pgd --engine torch` attacks with exactly
the budget of `--engine art`; the record says which engine ran. Attacks without a torch
record (deepfool, square, hsj) stay on ART inside the suite (`specs.on_engine`) and are
refused at level II with a one-line message. A torch attack runs whole on the model's device:
it does not split over MPI ranks or sample shards.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.evasion import catalogue as art
from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.audit.specs import CLASSIFIERS, AttackSpec
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.specs import Call, Outcome


def _function(spec: AttackSpec) -> Callable[..., Any]:
    """The torch function a record names ("module:function" under this package)."""
    import importlib

    module, _, name = str(spec.options["function"]).partition(":")
    return getattr(importlib.import_module(f"dii_hpc.audit.evasion.torch_engine.{module}"),
                   name)


def torch_params(name: str, fn: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters `fn` takes; one it does not know is refused, never ignored."""
    accepted = set(inspect.signature(fn).parameters) - {"target", "x", "y", "seed", "index"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise BadInput(f"attack {name}: the torch engine has no parameter {unknown[0]!r} "
                       f"(it takes {', '.join(sorted(accepted))}); use --engine art")
    return params


def generate(spec: AttackSpec, model: Predictor, x: np.ndarray, y: np.ndarray,
             params: dict[str, Any], seed: int = 0, index: Any = None
             ) -> tuple[np.ndarray, float]:
    """(x_adv, seconds) of the record's attack on the model's own device."""
    from dii_hpc.audit.evasion.torch_engine import target as tgt

    target = tgt.of(model)
    fn = _function(spec)
    kwargs = torch_params(spec.name, fn, params)
    xt, yt = target.tensor(x), target.labels(y)
    _sync(target)
    t0 = time.perf_counter()
    x_adv = fn(target, xt, yt, seed=seed, index=index, **kwargs)
    _sync(target)
    adv = np.ascontiguousarray(x_adv.detach().cpu().numpy(), dtype=np.float32)
    return adv, time.perf_counter() - t0


def run_torch(spec: AttackSpec, call: Call) -> Outcome:
    """The run of a torch engine record: random draws per (seed, sample index), so any
    split of the samples agrees."""
    from dii_hpc.audit.evasion.generate import attack_params, jsonable
    from dii_hpc.audit.evasion.score import score
    from dii_hpc.audit.specs import Outcome

    if call.generator is not None:
        raise BadInput("--engine torch does not shard over --mpi; use --engine art")
    model, x, y, seed = call.model, call.prep.x, call.prep.y, call.seed
    params = attack_params(spec, model, call.params, native=True)
    if "batch_size" not in (call.params or {}) and _sizes_itself(spec):
        params.pop("batch_size", None)  # ART's default is ART's: the device's batch instead
    x_adv, elapsed = generate(spec, model, x, y, params, seed)
    metrics, intervals, ok = score(model, x, y, x_adv)
    record = {"name": spec.name, "params": jsonable(params), "metrics": metrics,
              "intervals": intervals, "time_s": elapsed, "box": spec.box,
              "seeds": {"scheme": "per-sample", "seed": seed}, "engine": spec.engine}
    return Outcome(record, len(x), ok=ok, x_adv=x_adv)


def _sizes_itself(spec: AttackSpec) -> bool:
    """The record's function picks the device's batch (`batching.size`) when given None."""
    param = inspect.signature(_function(spec)).parameters.get("batch_size")
    return param is not None and param.default is None


def _sync(target: Any) -> None:
    import torch

    if getattr(target.device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(target.device)


def _torch(of: AttackSpec, function: str) -> AttackSpec:
    """The torch record of ART record ``of``: its defaults, doc and box, another run."""
    return AttackSpec(of.name, "evasion", "torch", CLASSIFIERS, of.needs, run_torch,
                      of.doc, of.defaults, of.box, on_device=True,
                      options={"function": function})


FGSM = _torch(art.FGSM, "pgd:fgsm")
PGD = _torch(art.PGD, "pgd:pgd")
PGD_L2 = _torch(art.PGD_L2, "pgd:pgd")
APGD = _torch(art.APGD, "apgd_art:apgd")
CW = _torch(art.CW, "cw:carlini_l2")
