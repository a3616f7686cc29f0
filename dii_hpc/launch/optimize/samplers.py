"""How an adaptive sweep proposes and prunes: Optuna's samplers and pruners, one record per name.

A study's spec names its sampler (`tpe`, `random`, `grid`, `cmaes`) and pruner (`none`,
`median`, `asha`, `hyperband`); each name is one record here (`SAMPLERS`, `PRUNERS`), built
from the spec and a per-worker seed, so adding one is one entry, and `submit --dry-run` says
what a record runs with (`describe_sampler`).  The names a config accepts are the schema's
(`config.schema.Optimize`).  Optuna is imported inside the functions (extra ``dii-hpc[optuna]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dii_hpc.errors import BadInput


def optuna_module() -> Any:
    """Optuna, or the one line that says how to get it."""
    try:
        import optuna
    except ImportError as err:
        raise BadInput("sweep.optimize needs Optuna: pip install 'dii-hpc[optuna]'") from err
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is too chatty
    return optuna



@dataclass(frozen=True)
class Sampler:
    """A sampler name: how to build it for a spec and seed, and how `--dry-run` says it."""

    build: Callable[[dict[str, Any], int], Any]
    describe: Callable[[dict[str, Any]], str]


def distributions(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Optuna distributions of a spec's space: the same ones for every worker and every ask."""
    dist = optuna_module().distributions
    out: dict[str, Any] = {}
    for key, entry in space.items():
        ((kind, value),) = entry.items()
        if kind == "choice":
            out[key] = dist.CategoricalDistribution(list(value))
        elif kind == "int":
            out[key] = dist.IntDistribution(int(value[0]), int(value[1]))
        else:
            out[key] = dist.FloatDistribution(float(value[0]), float(value[1]),
                                              log=kind == "log_uniform")
    return out


def grid_space(space: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key, entry in space.items():
        ((kind, value),) = entry.items()
        out[key] = list(value) if kind == "choice" else list(range(value[0], value[1] + 1))
    return out


def tpe_options(spec: dict[str, Any]) -> dict[str, Any]:
    """The TPESampler keywords of a study (besides its seed): the constant liar (with several
    workers it keeps running trials from being proposed again), multivariate (models the
    params jointly), and a random start of a quarter of the budget between 4 and Optuna's
    10: with the few dozen trials a cluster study affords, 10 random trials of 24 would leave
    TPE little to work with."""
    startup = min(10, max(4, int(spec.get("n_trials", 40)) // 4))
    return {"constant_liar": True, "multivariate": True, "n_startup_trials": startup}


def _tpe(spec: dict[str, Any], seed: int) -> Any:
    import warnings

    optuna = optuna_module()
    with warnings.catch_warnings():  # both options are "experimental" in Optuna's words
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, **tpe_options(spec))


def _describe_tpe(spec: dict[str, Any]) -> str:
    options = tpe_options(spec)
    flags = [k.replace("_", " ") for k in ("multivariate", "constant_liar") if options.get(k)]
    flags.append(f"{options['n_startup_trials']} random trials first")
    return f"tpe ({', '.join(flags)})"


def _cmaes(spec: dict[str, Any], seed: int) -> Any:
    try:
        import cmaes  # noqa: F401 - Optuna's CmaEsSampler needs it
    except ImportError as err:
        raise BadInput("sweep.optimize.sampler: cmaes needs the cmaes package: "
                       "pip install 'dii-hpc[optuna]'") from err
    return optuna_module().samplers.CmaEsSampler(seed=seed)


def _named(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda spec: name


SAMPLERS: dict[str, Sampler] = {
    "tpe": Sampler(_tpe, _describe_tpe),
    "random": Sampler(lambda spec, seed: optuna_module().samplers.RandomSampler(seed=seed),
                      _named("random")),
    "grid": Sampler(lambda spec, seed: optuna_module().samplers.GridSampler(grid_space(spec["space"]),
                                                                      seed=seed),
                    _named("grid")),
    "cmaes": Sampler(_cmaes, _named("cmaes")),
}
PRUNERS: dict[str, str] = {"none": "NopPruner", "median": "MedianPruner",
                           "asha": "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner"}


def _sampler(spec: dict[str, Any]) -> Sampler:
    try:
        return SAMPLERS[spec["sampler"]]
    except KeyError:
        raise BadInput(f"sweep.optimize.sampler: {spec['sampler']!r} is not one of "
                       f"{', '.join(SAMPLERS)}") from None


def describe_sampler(spec: dict[str, Any]) -> str:
    """The sampler as `submit --dry-run` says it: its name and the settings it runs with."""
    return _sampler(spec).describe(spec)


def make_sampler(spec: dict[str, Any], seed: int) -> Any:
    """The spec's sampler, seeded per worker (the same seed everywhere would have every
    worker draw the same startup points); TPE with `tpe_options`."""
    return _sampler(spec).build(spec, seed)


def make_pruner(spec: dict[str, Any]) -> Any:
    name = spec["pruner"]
    if name not in PRUNERS:
        raise BadInput(f"sweep.optimize.pruner: {name!r} is not one of {', '.join(PRUNERS)}")
    return getattr(optuna_module().pruners, PRUNERS[name])()


def worker_seed(spec: dict[str, Any], worker: int, started: int) -> int:
    """A sampler seed from the study's seed, the worker and how many trials it found
    (a restarted worker must not replay its first draws)."""
    import numpy as np

    return int(np.random.SeedSequence([int(spec.get("seed", 0)), worker, started])
               .generate_state(1)[0])
