"""AutoAttack's standard evaluation (Croce & Hein 2020), as RobustBench runs it.

`dii-hpc audit suite evasion --standard autoattack [--eps 8/255] [--norm inf|2]` (its
`Suite` record: `autoattack.suite`): APGD-CE,
APGD-T (9 target classes), FAB-T (9 target classes) and Square (5,000 queries), each on
the samples still robust, in that order; a sample is robust only if every attack failed
(worst case per sample). Parameters are AutoAttack's (`STEPS`, listed by `audit list`),
the attacks are the torch engine's reference implementations, and the result names the
standard and its version so that a report can say "comparable with RobustBench" - or why
not (a randomised model runs AutoAttack's version 'rand', few classes shorten APGD-T).

The samples are processed in blocks of `BLOCK` (AutoAttack's batch size); `run_block` is a
pure function of one block and the global sample indices, and every random draw depends on
(seed, sample index) only, so blocks may run anywhere and `merge` gives the numbers of one
process. Finished blocks are kept in the suite's checkpoint under `block_keys`; with
`--executor slurm` each block is an array task (`placement.slurm`, `compute_block`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.evasion.autoattack import checks
from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob

NAME = "autoattack-standard (RobustBench)"
VERSION = "0.1"
REFERENCE = "fra31/auto-attack 0.1 (commit a392200), version='standard'"
BLOCK = 250
RB_EPS = {"inf": 8 / 255, "2": 0.5}  # RobustBench's CIFAR-10 threat models, data in [0, 1]
CURVE = (0.5, 1.0, 2.0, 4.0)  # APGD-CE at these multiples of eps: must fall
APGD = {"n_iter": 100, "n_restarts": 1, "rho": 0.75, "eot_iter": 1}
STEPS: dict[str, tuple[str, str, dict[str, Any]]] = {  # name -> (box, function, params)
    "apgd-ce": ("white", "apgd", {"loss": "ce", **APGD}),
    "apgd-t": ("white", "apgd", {"loss": "dlr-targeted", **APGD, "n_target_classes": 9}),
    "fab-t": ("white", "fab", {"n_iter": 100, "n_restarts": 1, "n_target_classes": 9,
                               "alpha_max": 0.1, "eta": 1.05, "beta": 0.9}),
    "square": ("black", "square", {"n_queries": 5000, "p_init": 0.8, "n_restarts": 1,
                                   "rescale_schedule": False}),
}
RAND = {"apgd-ce": ("white", "apgd", {"loss": "ce", **APGD, "eot_iter": 20}),
        "apgd-dlr": ("white", "apgd", {"loss": "dlr", **APGD, "eot_iter": 20})}


@dataclass
class Plan:
    """What one evaluation runs: variant, norm, eps, attacks in order, deviations."""

    variant: str
    norm: Any
    eps: float
    eps_text: str
    steps: dict[str, tuple[str, str, dict[str, Any]]]
    deviations: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"name": NAME if self.variant == "standard" else "autoattack-rand",
                "version": VERSION, "reference": REFERENCE.replace("'standard'",
                                                                   repr(self.variant)),
                "variant": self.variant, "norm": "Linf" if self.norm == np.inf else "L2",
                "eps": self.eps, "eps_text": self.eps_text, "block": BLOCK,
                "attacks": [{"name": k, "box": b, "params": p} for k, (b, _, p)
                            in self.steps.items()],
                "comparable": self.variant == "standard" and not self.deviations,
                "deviations": list(self.deviations)}


def listing() -> list[str]:
    """One line per attack of the standard, with its parameters (for `audit list`)."""
    def text(p: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v}" for k, v in p.items())

    lines = [f"{name:<8} {box}-box  {text(p)}" for name, (box, _, p) in STEPS.items()]
    return lines + [f"eps default: Linf 8/255, L2 0.5 (RobustBench CIFAR-10) x data range; "
                    f"randomised models: {', '.join(RAND)} with eot_iter=20 (version 'rand')"]


def plan(model: Predictor, params: dict[str, Any], variant: str = "standard") -> Plan:
    """Check the model and parameters for the standard (one line, exit 2, when they fail)."""
    from dii_hpc.audit.evasion.generate import parse_norm
    from dii_hpc.audit.model.protocols import GradientModel, require
    from dii_hpc.audit.model.validate import check_budget, parse_eps

    unknown = sorted(set(params) - {"eps", "norm"})
    if unknown:
        raise BadInput(f"--standard autoattack: unknown parameter {unknown[0]!r} "
                       "(it takes eps and norm)")
    require(model, GradientModel, "--standard autoattack")
    norm = parse_norm(params.get("norm", "inf"))
    if norm not in (np.inf, 2):
        raise BadInput(f"--standard autoattack: norm {norm} is not inf or 2")
    span = float(model.clip_values[1] - model.clip_values[0])
    raw = params.get("eps")
    eps = parse_eps(raw, "--eps") if raw is not None else RB_EPS[_key(norm)] * span
    check_budget({"eps": eps, "norm": norm}, model.clip_values,
                 int(np.prod(model.input_shape)), "--standard autoattack")
    n_cls = int(model.nb_classes or 0)
    steps = {k: (b, f, dict(p)) for k, (b, f, p) in (STEPS if variant == "standard"
                                                     else RAND).items()}
    out = Plan(variant, norm, eps, str(raw) if raw is not None else
               f"{'8/255' if norm == np.inf else '0.5'} x {span:g}", steps)
    _fit_classes(out, n_cls)
    return out


def _key(norm: Any) -> str:
    return "inf" if norm == np.inf else "2"


def _fit_classes(p: Plan, n_cls: int) -> None:
    """AutoAttack's check_n_classes: fewer classes than targets shorten or drop attacks."""
    if n_cls < 2:
        raise BadInput("--standard autoattack needs a classifier with nb_classes >= 2")
    for name in list(p.steps):
        box, fn, params = p.steps[name]
        needs = 4 if params.get("loss") == "dlr-targeted" else 3 if params.get("loss") == \
            "dlr" else 2
        if n_cls < needs:
            del p.steps[name]
            p.deviations.append(f"{name} dropped: its loss needs >= {needs} classes")
        elif params.get("n_target_classes", 0) > n_cls - 1:
            params["n_target_classes"] = n_cls - 1
            p.deviations.append(f"{name}: {n_cls - 1} target classes (the model has {n_cls})")


def _attack(target: Any, fn: str, params: dict[str, Any], x: Any, y: Any, index: Any,
            p: Plan, seed: int) -> Any:
    """The attack `fn` with AutoAttack's `params`; untargeted APGD drops a sample at its
    first adversarial iterate (`stop_fooled`), where AutoAttack iterates on: the same
    flags (a fooled sample stays fooled), hence the same robust accuracies, for less work;
    the perturbation kept is that first adversarial point."""
    from dii_hpc.audit.evasion.torch_engine import apgd, fab, square

    if fn == "apgd" and params.get("loss") != "dlr-targeted":
        params = {**params, "stop_fooled": True}
    functions: dict[str, Callable[..., Any]] = {"apgd": apgd.apgd, "fab": fab.fab_targeted,
                                                "square": square.square}
    call = functions[fn]
    return call(target, x, y, norm=p.norm, eps=p.eps, seed=seed, index=index, **params)


def run_attack(target: Any, name: str, x: Any, y: Any, index: Any, p: Plan,
               seed: int) -> tuple[Any, Any]:
    """One attack of the plan on (x, y) alone: (robust flags, x_adv), both tensors."""
    _, fn, params = p.steps[name]
    x_adv = _attack(target, fn, params, x, y, index, p, seed)
    return target.predict(x_adv).argmax(1) == y, x_adv


def run_block(target: Any, x: np.ndarray, y: np.ndarray, index: np.ndarray, p: Plan,
              seed: int) -> dict[str, Any]:
    """The standard on one block: per-sample outcomes as numpy arrays, times per attack.

    `fooled_by` holds the position in `p.steps` of the attack that broke a sample, -1 for
    robust samples and -2 for samples misclassified before any attack."""
    from dii_hpc.audit.evasion.torch_engine.target import per_sample_norm

    xt, yt = target.tensor(x), target.labels(y)
    robust = target.predict(xt).argmax(1) == yt
    fooled_by = np.where(robust.cpu().numpy(), -1, -2).astype(np.int16)
    x_adv, times, after = xt.clone(), {}, {}
    for k, name in enumerate(p.steps):
        t0 = time.perf_counter()
        ids = robust.nonzero().reshape(-1)
        if len(ids):
            ok, adv = run_attack(target, name, xt[ids], yt[ids], index[ids.cpu().numpy()], p,
                                 seed)
            broke = ids[~ok]
            x_adv[broke] = adv[~ok]
            robust[broke] = False
            fooled_by[broke.cpu().numpy()] = k
        after[name] = robust.cpu().numpy()
        times[name] = time.perf_counter() - t0
    zero, vanish = checks.gradient_flags(target, xt, yt, p.eps, p.norm)
    curve = _curve(target, xt, yt, index, p, seed, after)
    delta = x_adv - xt
    return {"fooled_by": fooled_by, "zero_grad": zero, "vanishing": vanish,
            "curve": curve, "linf": per_sample_norm(delta, np.inf).cpu().numpy(),
            "l2": per_sample_norm(delta, 2).cpu().numpy(), "x_adv": x_adv.cpu().contiguous().numpy(),
            "times": times}


def _curve(target: Any, xt: Any, yt: Any, index: Any, p: Plan, seed: int,
           after: dict[str, np.ndarray]) -> np.ndarray:
    """Per sample, robust under the plan's first attack (APGD-CE) at each eps of `CURVE`;
    at eps itself that is the evaluation's own first attack (the same flags)."""
    if not p.steps:
        return np.zeros((0, len(xt)), bool)
    first = "apgd-ce" if "apgd-ce" in p.steps else next(iter(p.steps))
    return np.stack([after[first] if m == 1.0 and first == next(iter(p.steps)) else
                     run_attack(target, first, xt, yt, index, _scaled(p, m, target, first),
                                seed)[0].cpu().numpy() for m in CURVE])


def _scaled(p: Plan, mult: float, target: Any, name: str) -> Plan:
    """The plan of attack `name` alone at eps * mult, capped at the data range (Linf)."""
    eps = p.eps * mult
    if p.norm == np.inf:
        eps = min(eps, target.hi - target.lo)
    return Plan(p.variant, p.norm, eps, p.eps_text, {name: p.steps[name]}, p.deviations)


def merge(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Blocks (in sample order) -> one block; times add up."""
    out: dict[str, Any] = {k: np.concatenate([b[k] for b in blocks],
                                             axis=-1 if k == "curve" else 0)
                           for k in ("fooled_by", "zero_grad", "vanishing", "curve", "linf", "l2")}
    out["times"] = {k: sum(b["times"].get(k, 0.0) for b in blocks) for k in blocks[0]["times"]}
    return out


def setup(model: Predictor, x: np.ndarray, params: dict[str, Any]) -> tuple[Plan, Any, list[Any]]:
    """(plan, torch target, first sanity flags): a randomised model gets version 'rand'."""
    from dii_hpc.audit.evasion.torch_engine.target import of

    p = plan(model, params)
    target = of(model, "--standard autoattack")
    head = target.tensor(x[:BLOCK])
    first = [checks.randomised(target, head), checks.probabilities(target, head)]
    if not first[0]["ok"]:
        p = plan(model, params, variant="rand")
        first[0]["detail"] += ("; reran as AutoAttack's version 'rand' (APGD-CE and APGD-DLR "
                               "with EOT over 20 gradient samples)")
    return p, target, first


def block_keys(variant: str, n: int) -> list[str]:
    """The checkpoint keys of the blocks of n samples (a Slurm array task each)."""
    return [f"autoattack-{variant}-{start}" for start in range(0, n, BLOCK)]


def compute_block(target: Any, x: np.ndarray, y: np.ndarray, p: Plan, seed: int, key: str,
                  ck: Any) -> dict[str, Any]:
    """The block `key` (`block_keys`) of (x, y), computed or loaded from the checkpoint;
    a few of its adversarial examples are kept for the report."""
    from dii_hpc.audit.core.checkpoint import cached

    start = int(key.rsplit("-", 1)[1])
    stop = min(start + BLOCK, len(x))

    def block() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        out = run_block(target, x[start:stop], y[start:stop], np.arange(start, stop), p, seed)
        shown = np.flatnonzero(out["fooled_by"] >= 0)[:4]
        arrays = {k: v for k, v in out.items() if k not in ("times", "x_adv")}
        return {"times": out["times"]}, arrays | {"x_adv": out["x_adv"][shown],
                                                  "shown": shown + start}

    record, arrays = cached(ck, key, block)
    return {**arrays, "times": record["times"]}


def evaluate(model: Predictor, x: np.ndarray, y: np.ndarray, params: dict[str, Any], *,
             seed: int = 0, ck: Any = None, examples_dir: str | None = None) -> dict[str, Any]:
    """The standard on (x, y): the level I evasion result section (see `report.summarise`)."""
    from dii_hpc.audit.core.checkpoint import Checkpoint
    from dii_hpc.audit.evasion.autoattack import report

    p, target, first = setup(model, x, params)
    ck = ck or Checkpoint(None)
    blocks = [compute_block(target, x, y, p, seed, key, ck)
              for key in block_keys(p.variant, len(x))]
    merged = merge(blocks)
    shown = np.concatenate([b["shown"] for b in blocks])[:4].astype(int)
    x_adv = np.concatenate([b["x_adv"] for b in blocks])[:4]
    return report.summarise(model, x, y, p, merged, first, shown, x_adv, examples_dir, CURVE)


def check(job: AuditJob, generator: Any = None) -> None:
    """The standard runs on the torch engine, in one process or as a Slurm array."""
    name = job.config.standard
    if generator is not None:
        raise BadInput(f"--standard {name} does not shard over --mpi; use --executor slurm")
    if (job.config.engine or "torch") != "torch":
        raise BadInput(f"--standard {name} runs on the torch engine; drop --engine "
                       f"{job.config.engine}")


def run(job: AuditJob, prep: Any, generator: Any, examples_dir: str | None,
        ck: Any) -> dict[str, Any]:
    """The standard on the job's evaluation sample (its ``params``: eps, norm)."""
    check(job, generator)
    return evaluate(prep.model, prep.x, prep.y, dict(job.config.params), seed=prep.seed,
                    ck=ck, examples_dir=examples_dir)
