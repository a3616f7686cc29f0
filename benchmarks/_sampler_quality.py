"""How often an adaptive sweep finds a known optimum (issue 26), for `bench_optimize.py`.

Each objective is a function of a trial's params with a known maximum of 1.0.  A study is
simulated in this process the way a sweep's workers run it: ``parallel`` workers, each with
its own sampler seeded as `launch.optimize.trials` seeds a worker (`study.worker_seed`), asking from
one shared storage while the others' trials still run (a random one of them finishes next),
until ``budget`` trials are told.  Samplers: dii-hpc's own (`study.make_sampler`, the
function a study calls), Optuna's default TPESampler and RandomSampler, side by side on the
same seeds, and variants of the TPE settings.  A seed "finds the optimum" when the trial the
study reports best is within ``tolerance`` of it (for the noisy objective: its true,
noise-free value, since a lucky draw is not a find).
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Point = dict[str, Any]
LR = {"log_uniform": [1e-5, 1e-1]}
WIDTH = {"int": [4, 64]}
SHIFT = {"sgd": (-1.5, 0.15), "momentum": (-2.0, 0.05), "adam": (-3.0, 0.0)}  # best lr, cost


def _lr(p: Point, best: float = -2.5) -> float:
    return (math.log10(p["lr"]) - best) ** 2


def _width(p: Point) -> float:
    return ((p["width"] - 24) / 16) ** 2


def bowl(p: Point) -> float:
    """lr x a model's width, both mattering (the issue's "bowl over lr x width")."""
    return 1.0 - _lr(p) - _width(p)


def optimizers(p: Point) -> float:
    """A categorical param: each optimizer has its own best lr and a cost (adam is best)."""
    best, cost = SHIFT[p["optimizer"]]
    return 1.0 - cost - _lr(p, best) - _width(p)


def valley(p: Point) -> float:
    """Params that interact: the best lr falls as the width grows (a curved valley)."""
    best = -2.5 - math.log2(p["width"] / 24) / 2
    return 1.0 - 2 * _lr(p, best) - ((p["width"] - 24) / 32) ** 2


def four(p: Point) -> float:
    """Four params of a training recipe: lr, dropout, width and weight decay."""
    return (1.0 - _lr(p) - 25 * (p["dropout"] - 0.3) ** 2 - _width(p)
            - ((math.log10(p["weight_decay"]) + 4) / 2) ** 2)


@dataclass(frozen=True)
class Objective:
    name: str
    space: dict[str, dict[str, Any]]
    score: Callable[[Point], float]
    noise: float = 0.0  # standard deviation of the noise on each reported value
    tolerance: float = 0.175


OBJECTIVES = (
    Objective("bowl: lr x width", {"lr": LR, "width": WIDTH}, bowl),
    Objective("categorical: lr x optimizer x width",
              {"lr": LR, "optimizer": {"choice": list(SHIFT)}, "width": WIDTH}, optimizers),
    Objective("noisy bowl (sd 0.1)", {"lr": LR, "width": WIDTH}, bowl, noise=0.1),
    Objective("valley: lr x width interact", {"lr": LR, "width": WIDTH}, valley),
    Objective("4 params", {"lr": LR, "dropout": {"uniform": [0.0, 0.6]}, "width": WIDTH,
                           "weight_decay": {"log_uniform": [1e-6, 1e-2]}}, four),
)


def _tpe(**options: Any) -> Callable[[dict[str, Any], int], Any]:
    def make(spec: dict[str, Any], seed: int) -> Any:
        import optuna

        kw = {k: v(spec) if callable(v) else v for k, v in options.items()}
        return optuna.samplers.TPESampler(seed=seed, **kw)
    return make


def _dii(spec: dict[str, Any], seed: int) -> Any:
    from dii_hpc.launch.optimize import samplers

    return samplers.make_sampler(spec, seed)


def _random(spec: dict[str, Any], seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _quarter(spec: dict[str, Any]) -> int:
    return min(10, max(4, int(spec["n_trials"]) // 4))


SAMPLERS: dict[str, Callable[[dict[str, Any], int], Any]] = {
    "dii-hpc (make_sampler)": _dii,
    "Optuna TPE (default)": _tpe(),
    "random": _random,
}
#: TPE settings compared to choose dii-hpc's default ("1/4": a quarter of the budget, 4..10
#: random trials first; Optuna's own default is 10).  Every option is named: Optuna 4's
#: TPESampler defaults to univariate without the liar, Optuna 5's to multivariate with it.
VARIANTS: dict[str, Callable[[dict[str, Any], int], Any]] = {
    "multivariate + liar, startup 1/4": _tpe(multivariate=True, constant_liar=True,
                                             n_startup_trials=_quarter),
    "multivariate + liar, startup 10": _tpe(multivariate=True, constant_liar=True),
    "multivariate, no liar, startup 1/4": _tpe(multivariate=True, constant_liar=False,
                                               n_startup_trials=_quarter),
    "univariate + liar, startup 1/4": _tpe(multivariate=False, constant_liar=True,
                                           n_startup_trials=_quarter),
    "univariate, no liar, startup 10": _tpe(multivariate=False, constant_liar=False),
}


def simulate(objective: Objective, make: Callable[[dict[str, Any], int], Any], budget: int,
             parallel: int, seed: int) -> float:
    """Regret (1 - true value) of the trial the study reports best, after ``budget`` trials."""
    import numpy as np
    import optuna

    from dii_hpc.launch.optimize import samplers

    spec = {"sampler": "tpe", "n_trials": budget, "parallel": parallel, "seed": seed,
            "space": objective.space}
    dists = samplers.distributions(objective.space)
    storage = optuna.storages.InMemoryStorage()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" options, in Optuna's words
        workers = [optuna.create_study(storage=storage, study_name="s", direction="maximize",
                                       load_if_exists=True,
                                       sampler=make(spec, samplers.worker_seed(spec, k, 0)))
                   for k in range(parallel)]
        order, noise = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
        running: list[tuple[Any, int]] = []  # (trial, the worker running it)
        free, asked, true = list(range(parallel)), 0, {}
        while asked < budget or running:
            while free and asked < budget:
                k = free.pop(0)
                running.append((workers[k].ask(dists), k))
                asked += 1
            trial, k = running.pop(int(order.integers(len(running))))
            true[trial.number] = objective.score(trial.params)
            value = true[trial.number] + objective.noise * float(noise.standard_normal())
            workers[k].tell(trial, value)
            free.append(k)
    return 1.0 - true[workers[0].best_trial.number]


@dataclass
class Cell:
    """Regrets of one (objective, sampler, budget, parallel) over the seeds."""

    regrets: list[float] = field(default_factory=list)
    tolerance: float = 0.175

    @property
    def hits(self) -> float:
        return sum(r <= self.tolerance for r in self.regrets) / len(self.regrets)

    @property
    def median(self) -> float:
        return statistics.median(self.regrets)


def paired(a: list[float], b: list[float], tolerance: float) -> tuple[int, int]:
    """(seeds only ``a`` found the optimum on, seeds only ``b`` did): the same seeds, so the
    difference is in these discordant pairs (a sign test reads them)."""
    only_a = sum(x <= tolerance < y for x, y in zip(a, b, strict=True))
    only_b = sum(y <= tolerance < x for x, y in zip(a, b, strict=True))
    return only_a, only_b


def measure(samplers: dict[str, Callable[[dict[str, Any], int], Any]], budgets: list[int],
            parallels: list[int], seeds: int,
            objectives: tuple[Objective, ...] = OBJECTIVES
            ) -> dict[tuple[str, str, int, int], Cell]:
    """Every (objective, sampler, budget, parallel) over seeds 0..seeds-1 (the same seeds for
    every sampler: paired)."""
    out: dict[tuple[str, str, int, int], Cell] = {}
    for obj in objectives:
        for name, make in samplers.items():
            for budget in budgets:
                for parallel in parallels:
                    cell = out[(obj.name, name, budget, parallel)] = Cell(tolerance=obj.tolerance)
                    cell.regrets = [simulate(obj, make, budget, parallel, s) for s in range(seeds)]
    return out
