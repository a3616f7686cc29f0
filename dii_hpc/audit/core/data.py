"""What an audit computes on: the model and data of a job, checked against each other once.

`prepare(job)` builds the model through the job's `ModelRef` (the one builder of every task
family) and the data through its reference, checks every split in one line per mistake
(class ids for classifiers, float targets for regressors, torchvision targets for detectors,
masks for segmenters: `model.validate`, `model.vision_validate`) and picks the evaluation
sample (``n_samples`` of the test split, seeded). `manifest` is what it takes to reproduce.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.model.protocols import AuditDataset, Predictor, Task, methods, require
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob

#: Replaces evasion's blocked generation (MPI ranks, sample shards): (attack, x, y, seed,
#: label) -> x_adv.
Generator = Callable[[Any, np.ndarray, Any, int, str], np.ndarray]
Labels = Any  # class ids / targets (N,), torchvision targets (list of dicts), masks (N, H, W)


@dataclass
class Prepared:
    """Everything an audit computes on, validated once."""

    model: Any  # a `Predictor`; each attack checks the Protocol it needs (`specs.check`)
    train: tuple[np.ndarray, Labels]
    test: tuple[np.ndarray, Labels]
    x: np.ndarray  # evaluation sample (n_samples of the test split)
    y: Labels
    seed: int
    data_sha256: str

    @property
    def task(self) -> Task:
        return Task.parse(self.model.task)

    @classmethod
    def sample(cls, model: Any, x: np.ndarray, y: Labels, seed: int = 0) -> Prepared:
        """An evaluation sample alone (an attack run on given arrays: suites, tests); its
        splits are the sample itself."""
        return cls(model, (x, y), (x, y), x, y, int(seed), "")


def prepare(job: AuditJob, model: Predictor | None = None) -> Prepared:
    """Build model (unless the caller built it) and data, check them against each other,
    pick the evaluation sample."""
    model = job.model.build() if model is None else model
    data = job.data()
    # Other methods are checked per attack: a predict-only model can run black-box attacks.
    require(model, Predictor, "every audit")
    for attr in ("task", "input_shape", "clip_values"):
        if getattr(model, attr, None) is None:
            raise BadInput(f"model {type(model).__name__} lacks attribute `{attr}`")
    task = _task(job, model)
    for method in methods(AuditDataset):
        if not callable(getattr(data, method, None)):
            raise BadInput(f"data {type(data).__name__} does not implement {method}()")
    split = _splits(task, model)
    train = split(model, *data.get_train_data(), "train data")
    x, y = split(model, *data.get_test_data(), "test data")
    if task is Task.OBJECT_DETECTION and len(x):  # the contract, before minutes of attack
        from dii_hpc.audit.model.vision_validate import check_detections

        check_detections(model.predict(x[:2]), len(x[:2]))
    idx = np.sort(np.random.default_rng(job.seed).permutation(len(x))[: job.config.n_samples])
    return Prepared(model, train, (x, y), x[idx], take(y, idx), job.seed, _sha(*train, x, y))


def _task(job: AuditJob, model: Predictor) -> Task:
    """The config's `task:` over the model's own; a detector or segmenter must be one."""
    own = Task.parse(model.task)
    if not job.config.task:
        return own
    task = Task.parse(job.config.task)
    if (task.is_vision or own.is_vision) and task is not own:
        raise BadInput(f"config task {task.value!r} but model {type(model).__name__} is "
                       f"{own.value!r}")
    model.task = task
    return task


def _splits(task: Task, model: Predictor) -> Callable[..., tuple[np.ndarray, Labels]]:
    """The check of one split for the task's kind of labels."""
    if not task.is_vision:
        from dii_hpc.audit.model.validate import check_arrays

        return check_arrays
    from dii_hpc.audit.model.vision_validate import check_split

    if not callable(getattr(model, "art_estimator", None)):
        raise BadInput(f"model {type(model).__name__} needs art_estimator() (use "
                       "dii_hpc.audit.model.vision_wrappers.TorchDetectorWrapper/"
                       "TorchSegmenterWrapper)")
    if getattr(model, "nb_classes", None) is None:
        raise BadInput(f"model {type(model).__name__} lacks attribute `nb_classes`")
    return check_split


def take(y: Labels, idx: np.ndarray) -> Labels:
    return [y[int(i)] for i in idx] if isinstance(y, list) else y[idx]


def _sha(*parts: Any) -> str:
    """sha256 over every array of the splits (target dicts' arrays included)."""
    h = hashlib.sha256()
    for part in parts:
        for t in part if isinstance(part, list) else [part]:
            for a in t.values() if isinstance(t, dict) else [t]:
                h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def manifest(job: AuditJob, prep: Prepared) -> dict[str, Any]:
    """What it takes to reproduce: weights and data hashes, library versions, seed."""
    from dii_hpc import packages
    from dii_hpc.config import refs

    libraries = ("adversarial-robustness-toolbox", "torch", "numpy", "scikit-learn",
                 *(("pycocotools",) if prep.task.is_vision else ()), "dii-hpc")
    out = {"data_sha256": prep.data_sha256, "versions": packages.versions(libraries),
           "seed": prep.seed, "model": job.model.display(),
           "data": refs.display(job.config.data)}
    weights = getattr(prep.model, "weights_path", None)
    if weights:
        from dii_hpc.store.blobs import file_sha256

        out["weights_sha256"], out["weights_path"] = file_sha256(weights)[0], str(weights)
    return out
