"""Audit configs -> model, dataset and the samples to use.

The config file (or --model/--data options) is `dii_hpc.audit.config.AuditConfig`; `load`
reads it and pins a registered model; `prepare` builds the model and data, checks them
against each other and picks the evaluation sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.config import refs
from dii_hpc.errors import BadInput


def load(path: str | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config (`config.AuditConfig`: file, then the CLI's overrides, checked with file,
    line and key) as the engine's dict, its registered model pinned."""
    from dii_hpc.audit.config import load as read

    config = read(path, overrides)
    cfg = config.model_dump(exclude_none=True)
    if config.resources is not None:
        cfg["resources"] = config.resources.model_dump(exclude_unset=True)
    if path:
        cfg["config_dir"] = str(Path(path).resolve().parent)  # its modules live there
    _pin_model(cfg)
    return cfg


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
