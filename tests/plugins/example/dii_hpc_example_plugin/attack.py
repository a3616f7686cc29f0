"""An evasion attack from outside dii-hpc: one signed-gradient step, written in numpy.

Registered only through the entry point ``dii_hpc.attacks`` (see pyproject.toml): dii-hpc
lists it in `dii-hpc audit list` (engine ``numpy``, with this package as its origin) and
`dii-hpc audit attack sign_step --config C` runs it like a built-in attack: its defaults scaled
to the data, the user's ``--param`` over them, its record, thresholds and JUnit. It calls the
model's own numpy methods only (`predict` through the scores, `get_grad`): any framework's
model that implements them can be attacked.
"""

from __future__ import annotations

import time
from typing import Any

from dii_hpc.audit.model.protocols import GradientModel
from dii_hpc.audit.specs import CLASSIFIERS, AttackSpec, Call, Outcome, Shape, shape_of


def defaults(shape: Shape) -> dict[str, Any]:
    """A Linf step of 10% of the data's value range."""
    return {"eps": 0.1 * shape.span}


def sign_step(spec: AttackSpec, call: Call) -> Outcome:
    """x + eps * sign(d loss / d x), clipped to the model's value range."""
    import numpy as np

    from dii_hpc.audit.evasion.score import score

    model, x, y = call.model, call.prep.x, call.prep.y
    params = {**spec.defaults(shape_of(model)), **call.params}
    eps = float(params["eps"])
    lo, hi = model.clip_values
    t0 = time.perf_counter()
    grad = np.asarray(model.get_grad(x, y), dtype=np.float64)
    x_adv = np.clip(x + eps * np.sign(grad), lo, hi).astype(np.float32)
    metrics, intervals, ok = score(model, x, y, x_adv)
    record = {"name": spec.name, "params": {"eps": eps}, "metrics": metrics,
              "intervals": intervals, "time_s": time.perf_counter() - t0, "box": spec.box,
              "engine": spec.engine, "seeds": []}
    return Outcome(record, len(x), ok=ok, x_adv=x_adv)


SIGN_STEP = AttackSpec(
    name="sign_step", threat="evasion", engine="numpy", tasks=CLASSIFIERS, needs=GradientModel,
    run=sign_step, doc="one signed-gradient step in numpy (example plug-in)",
    defaults=defaults, box="white")
