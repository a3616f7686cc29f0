"""Level II attack `interval_bounds`: certified accuracy of the base classifier by bound
propagation (IBP or CROWN, `bounds`), at Linf or L2 radii.

A sample is certified at radius R when, for every input of the norm ball of radius R around
it (inside the model's ``clip_values`` box), the lower bound of ``logit[pred] - logit[j]``
is positive for every other class j, ``pred`` being the model's clean prediction. The result
has the certification format of `dii_hpc.audit.certification` (`certified_accuracy@R`, the
curve, per-sample ``prediction`` and ``radius``); the per-sample radius is the largest one a
bisection certified (a sound lower bound of the true robust radius), and
``certified_accuracy@R`` is decided at R itself. Nothing is random: no seeds.

Own implementation rather than ART's `PyTorchIBPClassifier`/`PytorchDeepZ` or auto_LiRPA:
see `bounds` (ART converts only direct Conv2d/Linear/ReLU children and Linf boxes, and
auto_LiRPA 0.3 does not import under torch 2.13).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.audit.model.validate import pop_number
from dii_hpc.audit.specs import CLASSIFIERS, AttackSpec, Shape, shape_of
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.certification.bounds import Network
    from dii_hpc.audit.specs import Call, Outcome

NAME = "interval_bounds"
#: Default radii per norm, times the data's range (L2: smoothing's, so the suite's curves meet).
RADII = {"inf": (0.0, 0.01, 0.02, 0.05, 0.1), "2": (0.0, 0.25, 0.5, 0.75, 1.0)}


def defaults(shape: Shape) -> dict[str, Any]:
    """L2 by default (randomized smoothing's norm, so the certification suite compares the
    two), CROWN, radii scaled to the data's range."""
    return {"norm": "2", "radii": [r * shape.span for r in RADII["2"]], "method": "crown",
            "steps": 16}


def unsupported(model: Predictor) -> str | None:
    """None when bound propagation handles every layer of ``model``, else the one line
    naming the first layer (or why the model is not a torch module) it does not."""
    from dii_hpc.audit.certification.bounds import trace

    try:
        trace(_module(model), tuple(model.input_shape))
    except BadInput as err:
        return str(err)
    return None


def _module(model: Predictor) -> Any:
    import torch

    module = getattr(model, "module", None)
    if not isinstance(module, torch.nn.Module):
        raise BadInput(f"{NAME} needs a torch model (a TorchModelWrapper exposing its "
                       f"nn.Module as `.module`); {type(model).__name__} has none")
    return module


def options(shape: Shape, params: dict[str, Any]) -> dict[str, Any]:
    """The attack's parameters, checked in one line each: norm (2 | inf), radii (a list or
    "0,0.25", default scaled to the data and the norm), method (crown | ibp), steps
    (bisection steps of the per-sample radius)."""
    from dii_hpc.audit.certification.bounds import METHODS
    from dii_hpc.audit.certification.smoothing import _radii

    params = dict(params)
    norm = str(params.pop("norm", "2")).lower().removeprefix("l")
    norm = "2" if norm in ("2.0", "2") else norm
    if norm not in RADII:
        raise BadInput(f"attack {NAME}: norm={norm!r}: expected 2 or inf")
    radii = list(_radii(params.pop("radii", [r * shape.span for r in RADII[norm]])))
    method = str(params.pop("method", "crown")).lower()
    if method not in METHODS:
        raise BadInput(f"attack {NAME}: method={method!r}: expected one of {', '.join(METHODS)}")
    steps = pop_number(params, "steps", 16, NAME, int)
    if not 1 <= steps <= 60:
        raise BadInput(f"attack {NAME}: steps={steps}: expected 1..60")
    if params:
        raise BadInput(f"attack {NAME}: unknown parameter(s) {', '.join(sorted(params))} "
                       "(it takes norm, radii, method, steps)")
    return {"norm": norm, "radii": radii, "method": method, "steps": steps}


def certified(net: Network, x: Any, pred: Any, eps: Any, norm: str,
              box: tuple[float, float], method: str) -> Any:
    """Per sample (bool tensor): the lower bound of every margin of ``pred`` is positive
    over the ball of radius ``eps`` (per sample) inside ``box``; ``x`` is (B, d) flat."""
    import torch

    from dii_hpc.audit.certification.bounds import Region, lower_bounds

    k = int(net.weights[-1].shape[0])
    eye = torch.eye(k, dtype=x.dtype, device=x.device)
    spec = eye[pred].unsqueeze(1) - eye.unsqueeze(0)  # (B, K, K): e_pred - e_j
    region = Region(x, eps, math.inf if norm == "inf" else 2.0, *box)
    low = lower_bounds(net, region, spec, method)
    low = low.masked_fill(torch.nn.functional.one_hot(pred, k).bool(), math.inf)
    return low.min(dim=1).values > 0


def radius(net: Network, x: Any, pred: Any, norm: str, box: tuple[float, float],
           method: str, steps: int) -> Any:
    """Per sample the largest radius a bisection over [0, top] certified (0 when none):
    top is the box's span (Linf) or its diagonal (L2), past which the ball holds the box."""
    import torch

    span = float(box[1] - box[0])
    top = span if norm == "inf" else span * math.sqrt(x.shape[1])
    low = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    high = torch.full_like(low, top)
    whole = certified(net, x, pred, high, norm, box, method)
    low[whole] = top
    for _ in range(steps):
        mid = (low + high) / 2
        ok = certified(net, x, pred, mid, norm, box, method) & ~whole
        low, high = torch.where(ok, mid, low), torch.where(ok | whole, high, mid)
    at_zero = certified(net, x, pred, torch.zeros_like(low), norm, box, method)
    return torch.where(at_zero, low, torch.zeros_like(low))


def chunk(net: Network, n: int) -> int:
    """Samples per back-substitution, so that one holds about `bounds.BUDGET` floats."""
    from dii_hpc.audit.certification.bounds import BUDGET

    return max(1, min(n, BUDGET // (2 * net.widest() ** 2)))


def certify(model: Predictor, x: np.ndarray, params: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray, dict[float, np.ndarray]]:
    """(prediction, radius, {R: certified at R}) of every sample, ``params`` as `options`."""
    import torch

    from dii_hpc.audit.certification.bounds import network

    net = network(_module(model), tuple(model.input_shape))
    device = net.weights[0].device
    box = (float(model.clip_values[0]), float(model.clip_values[1]))
    norm, method = str(params["norm"]), str(params["method"])
    preds, radii = [], []
    at: dict[float, list[np.ndarray]] = {r: [] for r in params["radii"]}
    step = chunk(net, len(x))
    with torch.no_grad():
        for s in range(0, len(x), step):
            xb = torch.as_tensor(np.asarray(x[s:s + step]), dtype=torch.float64,
                                 device=device).flatten(1)
            pred = net.logits(xb).argmax(dim=1)
            preds.append(pred.cpu().numpy())
            radii.append(radius(net, xb, pred, norm, box, method,
                                int(params["steps"])).cpu().numpy())
            for r in params["radii"]:
                eps = torch.full((len(xb),), float(r), dtype=xb.dtype, device=device)
                at[r].append(certified(net, xb, pred, eps, norm, box, method).cpu().numpy())
    return (np.concatenate(preds).astype(int), np.concatenate(radii),
            {r: np.concatenate(v) for r, v in at.items()})


def run(spec: AttackSpec, call: Call) -> Outcome:
    """The level II run: per-sample predictions and radii, certified accuracy per radius."""
    from dii_hpc.audit.certification.smoothing import metric_name
    from dii_hpc.audit.specs import Outcome

    if call.generator is not None:
        raise BadInput(f"attack {NAME} does not shard over --mpi")
    opts = options(shape_of(call.model), dict(call.params))
    x, y = call.prep.x, np.asarray(call.prep.y).astype(int)
    t0 = time.perf_counter()
    pred, rad, at = certify(call.model, x, opts)
    elapsed = time.perf_counter() - t0
    correct = pred == y
    metrics: dict[str, Any] = {metric_name(r): float(np.mean(correct & at[r]))
                               for r in opts["radii"]}
    metrics |= {"clean_accuracy": float(np.mean(correct)), "base_accuracy":
                float(np.mean(correct)), "abstain_rate": 0.0}
    curve = [{"radius": r, "certified_accuracy": metrics[metric_name(r)]}
             for r in opts["radii"]]
    samples = {"index": list(range(len(x))), "label": y.tolist(), "prediction": pred.tolist(),
               "radius": [float(v) for v in rad], "correct": correct.tolist()}
    record = {"name": NAME, "params": dict(opts), "metrics": metrics, "intervals": {},
              "time_s": elapsed, "engine": spec.engine}
    summary = (f"{NAME} ({opts['method']}, L{opts['norm']}): "
               + ", ".join(f"certified {v:.3f} at {r:g}"
                           for r, v in zip(opts["radii"], (c["certified_accuracy"]
                                                          for c in curve), strict=True)))
    return Outcome(record, len(x), curves={"certified_accuracy": curve}, summary=summary,
                   extra={"samples": samples})


INTERVAL_BOUNDS = AttackSpec(
    NAME, "certification", "torch", CLASSIFIERS, Predictor, run,
    "certified accuracy of the base classifier at Linf/L2 radii by bound propagation "
    "(CROWN or IBP; Linear, Conv2d, ReLU, Flatten, BatchNorm, AvgPool2d)", defaults,
    on_device=True)
