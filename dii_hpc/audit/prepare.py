"""Audit configs: YAML (or --model/--data options) -> model, dataset and the samples to use.

A config names the model and data as "module:callable" (a class or a factory), optionally
with `params` for it:

    experiment: digits-audit        # store experiment of the audit run
    model: {factory: dii_hpc.examples.digits:digits_model, params: {width: 16}}
    data: dii_hpc.examples.digits:digits_data
    task: image_classification      # default: the model's own task
    threat: evasion                 # suite / level III threat
    attack: pgd                     # level II name, or an ART class path (level III)
    params: {eps: 0.2}              # eps may be a fraction: 8/255
    engine: art                     # art | torch (attacks written in torch, torch models)
    standard: autoattack            # suite evasion: AutoAttack's standard (params: eps, norm)
    n_samples: 200
    seed: 0                         # every random draw derives from it (audit.randomness)
    sample_shards: 1                # --executor slurm: split each attack's samples over k tasks
    parent_run: null                # training run id of the audited model
    fail_under: {robust_accuracy: 0.3}
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.config import refs
from dii_hpc.errors import BadInput, ConfigError

KEYS = {"experiment", "model", "data", "task", "threat", "attack", "suite", "params",
        "n_samples", "seed", "parent_run", "fail_under", "fail_over", "level", "attacks",
        "sample_shards", "resources", "setup",  # resources/setup: the Slurm shards
        "standard", "engine"}


def load(path: str | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read the YAML (if any), apply CLI overrides, check keys; returns a plain dict."""
    cfg: dict[str, Any] = {}
    if path:
        from dii_hpc.config import yamlio

        raw, lines = yamlio.load(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: an audit config must be a mapping")
        for key in raw:
            if key not in KEYS:
                from dii_hpc.config.explain import suggest

                close = suggest(str(key), sorted(KEYS))
                hint = f"did you mean {close}? " if close else ""
                raise ConfigError(f"{path}:{lines.get((key,))}: unknown key {key!r}; {hint}known "
                                  f"keys: {', '.join(sorted(KEYS))}")
        check_values(raw, path, lines)
        cfg = {**raw, "config_dir": str(Path(path).resolve().parent)}  # its modules live there
    cfg.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for key in ("model", "data"):
        if not cfg.get(key):
            raise BadInput(f"audit needs `{key}` (\"module:callable\") in the config or --{key}")
    _pin_model(cfg)
    cfg.setdefault("experiment", "audit")
    cfg.setdefault("seed", 0)
    cfg.setdefault("n_samples", 200)
    for key in ("n_samples", "sample_shards"):  # also the --n-samples / -p overrides
        value = cfg.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{key}={value!r} must be a positive integer")
    return cfg


def check_values(raw: dict[str, Any], path: str, lines: dict[Any, int]) -> None:
    """The config's values whose type is known, checked before anything is built or run:
    a threshold that is not a number must not surface only after a long attack."""
    from dii_hpc.audit.core.results import finite_number

    def fail(key: tuple[Any, ...], text: str) -> None:
        line = lines.get(key) or lines.get(key[:1])
        raise ConfigError(f"{path}:{line}: {'.'.join(map(str, key))}: {text}")

    for key in ("seed", "n_samples", "sample_shards"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            fail((key,), f"{value!r} is not an integer")
    for key in ("n_samples", "sample_shards"):
        if raw.get(key) is not None and raw[key] < 1:
            fail((key,), f"{raw[key]!r} must be a positive integer")
    for key in ("fail_under", "fail_over"):
        bounds = raw.get(key)
        if bounds is None:
            continue
        if not isinstance(bounds, dict):
            fail((key,), "must be a mapping METRIC: NUMBER")
        for metric, value in bounds.items():
            if finite_number(value) is None:
                fail((key, metric), f"{value!r} is not a number")


def search(cfg: dict[str, Any]) -> list[str]:
    """Where the config's "module:callable" references are looked for after sys.path: the
    config file's folder (recorded by `load`, so that Slurm and MPI ranks look there too)."""
    return [cfg["config_dir"]] if cfg.get("config_dir") else []


def build_model(cfg: dict[str, Any]) -> Any:
    """The audited model, whatever its task: a registered version (the URI `load` pinned)
    through its recorded loader, else a "module:callable" reference found beside the config.
    The one builder of every audit path (the vision engine, Slurm shards, reference models)."""
    from dii_hpc.registry import uri

    return uri.build(cfg["model"], "model", search=search(cfg))


def task_of(cfg: dict[str, Any]) -> Any:
    """The audit's `Task`: the config's `task:`, else the model's own (built to ask it)."""
    from dii_hpc.audit.model.protocols import Task

    return Task.parse(cfg.get("task") or build_model(cfg).task)


def _pin_model(cfg: dict[str, Any]) -> None:
    """A registered model (models:/NAME@ALIAS) is audited as the version it holds now, and
    its training run is the audit's parent unless the config names one."""
    from dii_hpc.registry import uri

    if uri.is_uri(cfg["model"]):
        record = uri.resolve(cfg["model"], "model")
        cfg["model"] = f"{uri.PREFIX}{record['name']}/{record['version']}"
        if not cfg.get("parent_run"):
            cfg["parent_run"] = record["run_id"]


@dataclass
class Prepared:
    """Everything an audit computes on, validated once."""

    model: Any
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    x: np.ndarray  # evaluation sample (n_samples of the test split)
    y: np.ndarray
    seed: int


def prepare(cfg: dict[str, Any], model: Any = None) -> Prepared:
    """Build model (unless the caller built it) and data, check them against each other,
    pick the evaluation sample."""
    from dii_hpc.audit.model.protocols import Task, require
    from dii_hpc.audit.model.validate import check_arrays

    model = build_model(cfg) if model is None else model
    data = refs.build(cfg["data"], "data", search=search(cfg))
    # Other methods are checked per attack: a predict-only model can run black-box attacks.
    require(model, ("predict",), "every audit")
    for attr in ("task", "input_shape", "clip_values"):
        if getattr(model, attr, None) is None:
            raise BadInput(f"model {type(model).__name__} lacks attribute `{attr}`")
    if cfg.get("task"):
        model.task = Task.parse(cfg["task"])
    for method in ("get_train_data", "get_test_data"):
        if not callable(getattr(data, method, None)):
            raise BadInput(f"data {type(data).__name__} does not implement {method}()")
    train = check_arrays(model, *data.get_train_data(), "train data")
    test = check_arrays(model, *data.get_test_data(), "test data")
    seed = int(cfg.get("seed", 0))
    idx = np.random.default_rng(seed).permutation(len(test[0]))[: int(cfg["n_samples"])]
    idx.sort()
    return Prepared(model, train, test, test[0][idx], test[1][idx], seed)


def manifest(cfg: dict[str, Any], prep: Prepared) -> dict[str, Any]:
    """What it takes to reproduce: weights and data hashes, library versions, seed."""
    from dii_hpc import packages

    def sha(*arrays: np.ndarray) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    versions = packages.versions(("adversarial-robustness-toolbox", "torch", "numpy",
                                  "scikit-learn", "dii-hpc"))
    weights = getattr(prep.model, "weights_path", None)
    out = {"data_sha256": sha(*prep.train, *prep.test), "versions": versions,
           "seed": prep.seed, "model": refs.display(cfg["model"]), "data": refs.display(cfg["data"])}
    if weights:
        from dii_hpc.store.blobs import file_sha256

        out["weights_sha256"], out["weights_path"] = file_sha256(weights)[0], str(weights)
    return out
