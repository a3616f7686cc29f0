"""Evasion attacks: the named catalogue (levels I/II), ART class paths (level III), metrics.

Every attack's eps and step are set explicitly from the data's value range `span` and the
number of features `d` (ART's defaults assume MNIST in [0, 1]); a user's `--param` wins.
Generation is separate from scoring so that MPI ranks can generate shards and rank 0 scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.model.protocols import Task, require
from dii_hpc.errors import BadInput


@dataclass(frozen=True)
class EvasionSpec:
    name: str
    art_class: str
    box: str  # "white" | "black"
    needs: tuple[str, ...]
    deterministic: bool
    regression: bool = False
    doc: str = ""
    images_only: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)


def _defaults(name: str, span: float, d: int, native: bool) -> dict[str, Any]:
    """Explicit, range-scaled parameters: Linf eps = 10% of the range, L2 the same per pixel."""
    eps = 0.1 * span
    eps2 = eps * float(np.sqrt(d))
    table: dict[str, dict[str, Any]] = {
        "fgsm": {"norm": np.inf, "eps": eps, "num_random_init": 0},  # one step: no eps_step
        "pgd": {"norm": np.inf, "eps": eps, "eps_step": eps / 4, "max_iter": 20,
                "num_random_init": 1},
        "pgd_l2": {"norm": 2, "eps": eps2, "eps_step": eps2 / 4, "max_iter": 20,
                   "num_random_init": 1},
        "apgd": {"norm": np.inf, "eps": eps, "eps_step": eps / 4, "max_iter": 20,
                 "nb_random_init": 1, "loss_type": "cross_entropy" if native else None},
        "cw": {"confidence": 0.0, "learning_rate": 0.01 * span, "binary_search_steps": 3,
               "max_iter": 10, "initial_const": 0.1},
        "deepfool": {"max_iter": 50, "epsilon": 1e-6, "nb_grads": 10},
        "square": {"norm": np.inf, "eps": eps, "max_iter": 100, "p_init": 0.3,
                   "nb_restarts": 1},
        "hsj": {"norm": 2, "max_iter": 3, "max_eval": 100, "init_eval": 10, "init_size": 20},
    }
    # ART's batch_size default is 1 for CW/DeepFool/HSJ: 50x slower than needed.
    return {**table[name], "batch_size": 128}


ATTACKS: dict[str, EvasionSpec] = {s.name: s for s in (
    EvasionSpec("fgsm", "art.attacks.evasion.FastGradientMethod", "white",
                ("predict", "get_grad"), True, True, "one signed-gradient step"),
    EvasionSpec("pgd", "art.attacks.evasion.ProjectedGradientDescent", "white",
                ("predict", "get_grad"), False, True, "projected gradient descent, Linf"),
    EvasionSpec("pgd_l2", "art.attacks.evasion.ProjectedGradientDescent", "white",
                ("predict", "get_grad"), False, True, "projected gradient descent, L2"),
    EvasionSpec("apgd", "art.attacks.evasion.AutoProjectedGradientDescent", "white",
                ("predict", "get_grad"), False, False, "AutoPGD (step-size free PGD), Linf"),
    EvasionSpec("cw", "art.attacks.evasion.CarliniL2Method", "white",
                ("predict", "get_class_grad"), True, False, "Carlini-Wagner L2 (unbounded)"),
    EvasionSpec("deepfool", "art.attacks.evasion.DeepFool", "white",
                ("predict", "get_class_grad"), True, False, "DeepFool (unbounded)"),
    EvasionSpec("square", "art.attacks.evasion.SquareAttack", "black",
                ("predict",), False, False, "score-based Square attack, Linf", images_only=True),
    EvasionSpec("hsj", "art.attacks.evasion.HopSkipJump", "black",
                ("predict",), False, False, "decision-based HopSkipJump, L2 (unbounded)"),
)}


def parse_norm(value: Any) -> Any:
    """'inf'/'linf' -> np.inf, '2'/'l2' -> 2 (YAML and --param give strings)."""
    text = str(value).lower().lstrip("l")
    if text in ("inf", "infinity", "np.inf"):
        return np.inf
    if text in ("1", "2"):
        return int(text)
    raise BadInput(f"norm={value!r} is not one of inf, 1, 2")


def spec(name: str) -> EvasionSpec:
    if name not in ATTACKS:
        raise BadInput(f"unknown evasion attack {name!r}; known: {', '.join(ATTACKS)}")
    return ATTACKS[name]


def attack_params(name: str, model: Any, overrides: dict[str, Any] | None,
                  native: bool) -> dict[str, Any]:
    """The full parameter set (defaults scaled to the data, then the user's overrides)."""
    from dii_hpc.audit.model.validate import check_budget

    s = spec(name)
    task = Task.parse(model.task)
    if task.is_regression and not s.regression:
        regs = [n for n, v in ATTACKS.items() if v.regression]
        raise BadInput(f"attack {name} needs a classifier; on regressors use {', '.join(regs)}")
    if s.images_only and task is not Task.IMAGE_CLASSIFICATION:
        raise BadInput(f"attack {name} works on images only (ART), not {task.value}")
    require(model, s.needs, f"attack {name}")
    span = float(model.clip_values[1] - model.clip_values[0])
    d = int(np.prod(model.input_shape))
    defaults = _defaults(name, span, d, native)
    if task.is_regression and "num_random_init" in defaults:
        defaults["num_random_init"] = 0  # ART: random init is for classifiers only
    params = {**defaults, **check_numbers(name, defaults, overrides or {})}
    if "norm" in params:
        params["norm"] = parse_norm(params["norm"])
    check_budget(params, model.clip_values, d, name)
    return params


def check_numbers(name: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with numbers where the default is a number (YAML reads ``1e-2`` as text);
    one that is no number (``-p eps=abc``) is one line now, not a TypeError deep inside ART.
    ``norm`` and the budgets (fractions such as 8/255) have their own parsers (`parse_norm`,
    `validate.parse_eps`)."""
    from dii_hpc.audit.model.validate import BUDGETS

    out = dict(overrides)
    for key, value in overrides.items():
        default = defaults.get(key)
        if key == "norm" or key in BUDGETS or isinstance(default, bool) or \
                not isinstance(default, (int, float)):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        try:
            out[key] = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            out[key] = None
        if out[key] is None:
            raise BadInput(f"attack {name}: {key}={value!r} is not a number")
    return out


def build(art_class: str, estimator: Any, params: dict[str, Any], label: str) -> Any:
    """Instantiate an ART attack; ART's own complaint becomes a one-line BadInput."""
    from art.exceptions import EstimatorError

    from dii_hpc.config import refs

    cls = refs.resolve(art_class, f"attack {label}", what="attack")
    kwargs = {"verbose": False, **params} if _takes(cls, "verbose") else dict(params)
    try:
        return cls(estimator, **kwargs)
    except (ValueError, TypeError, EstimatorError) as err:
        raise BadInput(f"attack {label}: ART rejected the parameters: "
                       f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def _takes(cls: Any, name: str) -> bool:
    import inspect

    return name in inspect.signature(cls.__init__).parameters


def generate(attack: Any, x: np.ndarray, y: np.ndarray, seed: int, label: str,
             ids: list[int] | None = None) -> np.ndarray:
    """x_adv for (x, y), block by block under seeds derived from (seed, label, block) so
    that any sharding gives the same numbers (`randomness`); `ids` picks a shard's blocks.
    ART errors raised at generate time also become BadInput."""
    def call(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
        return attack.generate(x=xb, y=yb)

    try:
        return randomness.generate_blocks(call, x, y, seed, label, ids).astype(np.float32)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {label}: ART failed: {str(err).splitlines()[0]}") from err


def generate_shown(attack: Any, x: np.ndarray, y: np.ndarray, seed: int, label: str, *,
                   generator: Any = None, batch: int | None = None) -> np.ndarray:
    """`generate` (or ``generator``) under a progress bar of samples.

    With ``batch`` (an attack that treats every sample on its own: a deterministic one) and a
    bar on screen, ART is called once per ``batch`` samples so that the bar moves per batch;
    the adversarial examples are the same as from one call.
    """
    gen = generator or generate
    with progress.bar(f"{label}: samples", len(x)) as bar:
        if generator is not None or not batch or not bar.shown or len(x) <= batch:
            x_adv = gen(attack, x, y, seed, label)
            bar.advance(len(x))
            return x_adv
        parts = []
        for lo in range(0, len(x), batch):
            parts.append(generate(attack, x[lo:lo + batch], y[lo:lo + batch], seed, label))
            bar.advance(len(parts[-1]))
        return np.concatenate(parts)


def score(model: Any, x: np.ndarray, y: np.ndarray, x_adv: np.ndarray,
          pred_clean: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, list[float]],
                                                       np.ndarray]:
    """Metrics, Clopper-Pearson intervals and per-sample 'still right' flags."""
    task = Task.parse(model.task)
    delta = (x_adv - x).reshape(len(x), -1)
    pert = {"mean_perturbation_linf": float(np.abs(delta).max(1).mean()) if len(x) else 0.0,
            "mean_perturbation_l2": float(np.linalg.norm(delta, axis=1).mean()) if len(x) else 0.0}
    clean = model.predict(x) if pred_clean is None else pred_clean
    adv = model.predict(x_adv)
    if task.is_regression:
        return _regression_metrics(y, clean, adv) | pert, {}, np.abs(adv - y) <= np.abs(clean - y)
    ok_clean = np.argmax(clean, axis=1) == y
    ok_adv = np.argmax(adv, axis=1) == y
    flipped = ok_clean & ~ok_adv
    metrics = {"clean_accuracy": float(ok_clean.mean()), "robust_accuracy": float(ok_adv.mean()),
               "attack_success_rate": float(flipped.sum() / max(ok_clean.sum(), 1))} | pert
    intervals = {"clean_accuracy": stats.rate_interval(ok_clean),
                 "robust_accuracy": stats.rate_interval(ok_adv),
                 "attack_success_rate": stats.rate_interval(flipped[ok_clean])}
    return metrics, intervals, ok_adv


def _regression_metrics(y: np.ndarray, clean: np.ndarray, adv: np.ndarray) -> dict[str, float]:
    clean, adv = np.asarray(clean).reshape(-1), np.asarray(adv).reshape(-1)
    m = {"clean_mae": float(np.abs(clean - y).mean()),
         "clean_rmse": float(np.sqrt(((clean - y) ** 2).mean())),
         "adv_mae": float(np.abs(adv - y).mean()),
         "adv_rmse": float(np.sqrt(((adv - y) ** 2).mean()))}
    m["mae_increase"] = m["adv_mae"] - m["clean_mae"]
    m["rmse_increase"] = m["adv_rmse"] - m["clean_rmse"]
    return m


def run_named(model: Any, x: np.ndarray, y: np.ndarray, name: str,
              overrides: dict[str, Any] | None = None, seed: int = 0,
              generator: Any = None, engine: str = "art"
              ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """One catalogue attack -> (attack record, per-sample robust flags, x_adv).

    `generator(attack, x, y, seed, label)` replaces `generate` (MPI sharding plugs in here);
    `engine="torch"` runs the attack in `dii_hpc.audit.evasion.torch_engine` instead of ART.
    """
    from dii_hpc.audit.evasion.torch_engine import catalogue
    from dii_hpc.audit.model.adapter import estimator_for

    native = callable(getattr(model, "art_estimator", None))
    if catalogue.check_engine(engine) == "torch":
        if generator is not None:
            raise BadInput("--engine torch does not shard over --mpi; use --engine art")
        catalogue.require(name)
        params = attack_params(name, model, overrides, native=True)
        x_adv, elapsed = catalogue.generate(model, x, y, name, params, seed)
        seeds: Any = {"scheme": "per-sample", "seed": seed}  # (seed, sample index): any split agrees
    else:
        params = attack_params(name, model, overrides, native)
        # HopSkipJump queries in float64, which ART's PyTorchClassifier hands to the module
        # as is; the numpy adapter casts to float32 (a decision-based attack only needs
        # predict).
        estimator = estimator_for(model, native=name != "hsj")
        attack = build(spec(name).art_class, estimator, params, name)
        t0 = time.perf_counter()
        x_adv = generate_shown(attack, x, y, seed, name, generator=generator,
                               batch=int(params.get("batch_size") or 0) if spec(name).deterministic else None)
        elapsed = time.perf_counter() - t0
        seeds = randomness.block_seeds(seed, name, len(x))
    metrics, intervals, ok = score(model, x, y, x_adv)
    record = {"name": name, "params": jsonable(params), "metrics": metrics,
              "intervals": intervals, "time_s": elapsed, "box": spec(name).box,
              "seeds": seeds, "engine": engine}
    return record, ok, x_adv


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """np.inf -> "inf" and numpy scalars -> Python, so configs round-trip through JSON."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, float) and np.isinf(v):
            out[k] = "inf"
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, (str, int, float, bool, type(None), list, dict)):
            out[k] = v
        else:
            out[k] = repr(v)
    return out
