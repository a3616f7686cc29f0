"""Reference ("shadow") models: who trains on what, where they are kept, how they are trained.

A `Plan` is N models trained with the user's own trainer (`model.fit`) on subsets of one
record set (LiRA/RMIA: the population, i.e. the data wrapper's train data plus its held-out
data; the canary audit: the train data plus the canaries). `halves` draws LiRA's split
(tensorflow/privacy mi_lira_2021): every record is IN for exactly N//2 models, so each
record has both IN and OUT statistics, under `derive(seed, "reference-halves")`.

A model's key is the sha256 of (hash of the records, its IN mask, the trainer config, its
training seed): the target's weights are not in it, so a second audit of another target
trained with the same recipe on the same population finds every model already there and
costs only the scoring. The trainer config is the model spec without its `weights`
parameter (a registered version: its loader without the weights), see `trainer_identity`.

Kept in the store, `<store>/cache/reference-models/<key>/` (`outputs.npy`: the model's raw
outputs on every record of the set, all any attack reads; `model.json`, written last, marks
it complete). Why the store and not the user cache ($DII_HPC_CACHE): the models are
trained by Slurm array tasks on compute nodes and read by the process that scores, and the
store is the one folder every node is guaranteed to share (the user cache may be node-local
~/.cache, or a temp dir when $HOME is read-only there); they cost GPU hours, and everyone
auditing against the same store reuses them. Deleting the folder only costs retraining.

Training is in this process (`train_inline`, the default) or one job array through
`launch.backend` (`reference_training`: `--executor slurm`, resources from the config's
`resources:`; or processes on this host). Each task trains a pack of models sized from their
measured time (`placement.packing`), each kept as it ends; a model already complete is
skipped, so a resubmitted array resumes per model. A model is trained under
`randomness.seeded(its seed)`, so where it ran never changes its numbers.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core import randomness
from dii_hpc.audit.model.protocols import RetrainableModel

FORMAT = 1  # bump when what a key stands for changes: old models are then retrained
OUTPUTS, META = "outputs.npy", "model.json"


@dataclass(frozen=True)
class Plan:
    """N models on subsets of the records (x, y): keep[i] is model i's training set."""

    x: np.ndarray
    y: np.ndarray
    keep: np.ndarray  # (N, P) bool
    keys: tuple[str, ...]
    seeds: tuple[int, ...]
    root: Path

    def folder(self, i: int) -> Path:
        return self.root / self.keys[i]

    def missing(self) -> list[int]:
        return [i for i in range(len(self.keys)) if not (self.folder(i) / META).is_file()]

    def times(self) -> list[float]:
        """The recorded training times (`model.json` "time_s") of the complete models:
        what sizes the packs of the next array (`placement.packing`)."""
        out = []
        for i in range(len(self.keys)):
            try:
                t = json.loads((self.folder(i) / META).read_text()).get("time_s")
            except (OSError, ValueError):
                continue
            if isinstance(t, (int, float)) and t > 0:
                out.append(float(t))
        return out

    def outputs(self) -> np.ndarray:
        """(N, P, C) raw outputs of every model on every record, float64."""
        return np.stack([np.load(self.folder(i) / OUTPUTS).astype(np.float64)
                         for i in range(len(self.keys))])


def cache_root(store_root: str | os.PathLike[str] | None = None) -> Path:
    """`<store>/cache/reference-models` (the store: $DII_HPC_STORE > ./dii-store)."""
    from dii_hpc.store.store import resolve_store_path

    return resolve_store_path(store_root) / "cache" / "reference-models"


def trainer_identity(spec: Any) -> dict[str, Any]:
    """The trainer config of a model spec: factory and params, weights left out."""
    from dii_hpc.config import refs
    from dii_hpc.registry import uri

    if uri.is_uri(spec):
        loader = uri.resolve(spec, "model")["loader"]
        drop = loader.get("weights_param") or "weights"
        return {"factory": loader["factory"],
                "params": {k: v for k, v in (loader.get("params") or {}).items() if k != drop}}
    params = dict(spec.get("params") or {}) if isinstance(spec, dict) else {}
    params.pop("weights", None)
    return {"factory": refs.display(spec), "params": params}


def records_sha(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def halves(n_models: int, n_records: int, seed: int) -> np.ndarray:
    """(N, P) IN mask: each record IN for exactly N//2 of the N models, seeded."""
    rng = np.random.default_rng(randomness.derive(seed, "reference-halves"))
    order = rng.uniform(size=(n_models, n_records)).argsort(axis=0)
    return order < n_models // 2


def plan(x: np.ndarray, y: np.ndarray, keep: np.ndarray, trainer: dict[str, Any], seed: int,
         label: str, root: Path | None = None) -> Plan:
    """The plan's keys: content hashes of (records, IN mask, trainer config, seed)."""
    data = records_sha(x, y)
    seeds, keys = [], []
    for i, row in enumerate(np.asarray(keep, bool)):
        s = randomness.derive(seed, f"reference-model-{label}", i)
        ident = {"format": FORMAT, "records": data, "trainer": trainer, "seed": s,
                 "in": hashlib.sha256(np.packbits(row).tobytes()).hexdigest()}
        keys.append(hashlib.sha256(json.dumps(ident, sort_keys=True, default=str)
                                   .encode()).hexdigest()[:32])
        seeds.append(s)
    return Plan(np.asarray(x), np.asarray(y), np.asarray(keep, bool), tuple(keys),
                tuple(seeds), Path(root) if root is not None else cache_root())


def train_one(model: RetrainableModel, p: Plan, i: int, *, in_place: bool = False) -> bool:
    """Train model i of the plan (unless already complete) and keep its outputs.

    The target is copied first (`fit` retrains in place) unless `in_place`, which an array
    task uses on the model it built for itself. Returns whether it trained."""
    if (p.folder(i) / META).is_file():
        return False
    from dii_hpc.store.atomic import write_bytes, write_json

    ref = model if in_place else copy.deepcopy(model)
    t0 = time.perf_counter()
    with randomness.seeded(p.seeds[i]):
        ref.fit(p.x[p.keep[i]], p.y[p.keep[i]])
        outputs = np.asarray(ref.predict(p.x))
    buf = io.BytesIO()
    np.save(buf, outputs)
    p.folder(i).mkdir(parents=True, exist_ok=True)
    write_bytes(p.folder(i) / OUTPUTS, buf.getvalue())
    write_json(p.folder(i) / META, {"key": p.keys[i], "seed": p.seeds[i],
                                    "n_train": int(p.keep[i].sum()), "shape": list(outputs.shape),
                                    "time_s": time.perf_counter() - t0, "trained_at": time.time(),
                                    "node": os.environ.get("SLURMD_NODENAME") or socket.gethostname(),
                                    "job": os.environ.get("SLURM_JOB_ID"),
                                    "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")})
    return True


def train_inline(model: RetrainableModel, p: Plan, indices: list[int] | None = None) -> int:
    """Train the missing models one after another in this process; returns how many."""
    todo = p.missing() if indices is None else indices
    trained = 0
    with progress.bar("reference models", len(todo)) as bar:
        for i in todo:
            trained += train_one(model, p, i)
            bar.advance()
    return trained
