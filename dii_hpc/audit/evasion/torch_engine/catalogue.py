"""`--engine torch` for the catalogue attacks: same names, defaults and record as ART's.

`evasion.run_named(..., engine="torch")` takes its parameters from `evasion.attack_params`
(the range-scaled defaults and the user's overrides, validated once) and calls `generate`,
so `audit attack pgd --engine torch` attacks with exactly the budget of `--engine art`; the
record says which engine ran. Attacks without a torch
implementation (deepfool, square, hsj) stay on ART inside the suite and are refused at
level II with a one-line message.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np

from dii_hpc.errors import BadInput

ENGINES = ("art", "torch")


def _functions() -> dict[str, Any]:
    from dii_hpc.audit.evasion.torch_engine import apgd_art, cw, pgd

    return {"fgsm": pgd.fgsm, "pgd": pgd.pgd, "pgd_l2": pgd.pgd, "apgd": apgd_art.apgd,
            "cw": cw.carlini_l2}


TORCH_ATTACKS = ("fgsm", "pgd", "pgd_l2", "apgd", "cw")


def check_engine(engine: str | None) -> str:
    engine = engine or "art"
    if engine not in ENGINES:
        raise BadInput(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    return engine


def has_torch(name: str) -> bool:
    return name in TORCH_ATTACKS


def torch_params(name: str, fn: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters `fn` takes; one it does not know is refused, never ignored."""
    accepted = set(inspect.signature(fn).parameters) - {"target", "x", "y", "seed", "index"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise BadInput(f"attack {name}: the torch engine has no parameter {unknown[0]!r} "
                       f"(it takes {', '.join(sorted(accepted))}); use --engine art")
    return params


def require(name: str) -> None:
    """One line naming the engine's attacks when `name` is not among them."""
    if not has_torch(name):
        raise BadInput(f"attack {name} has no torch engine implementation (torch engine: "
                       f"{', '.join(TORCH_ATTACKS)}); use --engine art")


def generate(model: Any, x: np.ndarray, y: np.ndarray, name: str, params: dict[str, Any],
             seed: int = 0, index: Any = None) -> tuple[np.ndarray, float]:
    """(x_adv, seconds) of catalogue attack `name` on the torch engine.

    `params` are `evasion.attack_params(name, ...)`: the budget of the ART engine."""
    from dii_hpc.audit.evasion.torch_engine import target as tgt

    require(name)
    target = tgt.of(model)
    fn = _functions()[name]
    kwargs = torch_params(name, fn, params)
    xt, yt = target.tensor(x), target.labels(y)
    _sync(target)
    t0 = time.perf_counter()
    x_adv = fn(target, xt, yt, seed=seed, index=index, **kwargs)
    _sync(target)
    return x_adv.detach().cpu().numpy().astype(np.float32), time.perf_counter() - t0


def _sync(target: Any) -> None:
    import torch

    if getattr(target.device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(target.device)
