"""Audit engine for object detection and image segmentation (levels I, II, III).

Same job and result shapes as `dii_hpc.audit.engine.compute` (job: {"cfg", "level",
"name", "params"}; result: level, threat, task, suite|attack, grade, summary, metrics,
attacks, curves, sanity, examples, n_samples, params, config, manifest), so the CLI,
`results.persist`, JSON/JUnit writers and the report treat these audits like the others.
The difference is the labels: torchvision targets (detection) or (N, H, W) masks
(segmentation) instead of class ids, validated by `vision.validate` before any attack.
Threats: evasion (fgsm, pgd, dpatch, robust_dpatch, patch) and poisoning (backdoor with
retraining, `vision.poisoning`); privacy is not implemented for these tasks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from dii_hpc.audit import prepare as cfgmod
from dii_hpc.audit.evasion import vision as attacks
from dii_hpc.audit.model import vision_validate as validate
from dii_hpc.audit.model.protocols import Task
from dii_hpc.config import refs
from dii_hpc.errors import BadInput

TASKS = (Task.OBJECT_DETECTION.value, Task.IMAGE_SEGMENTATION.value)
SUITES = ("evasion", "poisoning")
EVASION_KEYS = {"eps", "eps_step", "max_iter", "norm", "num_random_init", "batch_size"}


def handles(cfg: dict[str, Any], model: Any = None) -> bool:
    """True when the config's `task`, else the model's own, is one of ours (the main engine
    hands the job over; a registered detector needs no `task:` in the config)."""
    task = cfg.get("task") or getattr(model, "task", None)
    return str(getattr(task, "value", task) or "") in TASKS


@dataclass
class Prepared:
    model: Any
    train: tuple[np.ndarray, Any]
    test: tuple[np.ndarray, Any]
    x: np.ndarray
    y: Any  # targets (list of dicts) or masks (N, H, W)
    seed: int
    data_sha256: str


def prepare(cfg: dict[str, Any], model: Any = None) -> Prepared:
    """Build model (through the audit's one builder, so a registered version works as in
    every task) and data, validate them against each other, pick the evaluation sample."""
    model = cfgmod.build_model(cfg) if model is None else model
    data = refs.build(cfg["data"], "data", search=cfgmod.search(cfg))
    for attr in ("task", "input_shape", "clip_values", "nb_classes"):
        if getattr(model, attr, None) is None:
            raise BadInput(f"model {type(model).__name__} lacks attribute `{attr}`")
    if not callable(getattr(model, "art_estimator", None)):
        raise BadInput(f"model {type(model).__name__} needs art_estimator() (use "
                       "dii_hpc.audit.model.vision_wrappers.TorchDetectorWrapper/TorchSegmenterWrapper)")
    task = Task.parse(cfg.get("task") or model.task)
    if task.value not in TASKS:
        raise BadInput(f"task {task.value!r} is not a vision task ({', '.join(TASKS)})")
    if Task.parse(model.task) is not task:
        raise BadInput(f"config task {task.value!r} but model {type(model).__name__} is "
                       f"{Task.parse(model.task).value!r}")
    for method in ("get_train_data", "get_test_data"):
        if not callable(getattr(data, method, None)):
            raise BadInput(f"data {type(data).__name__} does not implement {method}()")
    train = check_split(model, *data.get_train_data(), "train data")
    x, y = check_split(model, *data.get_test_data(), "test data")
    if task is Task.OBJECT_DETECTION and len(x):  # the contract, before minutes of attack
        validate.check_detections(model.predict(x[:2]), len(x[:2]))
    seed = int(cfg.get("seed", 0))
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[: int(cfg["n_samples"])])
    return Prepared(model, train, (x, y), x[idx], take(y, idx), seed,
                    _sha(*train, x, y))


def check_split(model: Any, x: Any, y: Any, where: str) -> tuple[np.ndarray, Any]:
    """Images plus targets (detection) or masks (segmentation), each checked in one line."""
    x = validate.check_images(model, x, where)
    if Task.parse(model.task) is Task.OBJECT_DETECTION:
        return x, validate.check_targets(model, y, len(x), where)
    return x, validate.check_masks(model, y, len(x), where)


def take(y: Any, idx: np.ndarray) -> Any:
    return [y[int(i)] for i in idx] if isinstance(y, list) else y[idx]


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        for t in part if isinstance(part, list) else [part]:
            for a in t.values() if isinstance(t, dict) else [t]:
                h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def compute(job: dict[str, Any], generator: Any = None, examples_dir: str | None = None,
            model: Any = None) -> dict[str, Any]:
    """Run one audit job and return its result dict (`generator` is unused: no MPI here;
    `model`: already built by the caller)."""
    cfg, level = job["cfg"], job["level"]
    prep = prepare(cfg, model)
    params = dict(job.get("params") or {})
    if level == "I":
        result = _suite(str(job["name"]), cfg, prep, examples_dir)
    elif level == "II" or "." not in str(job["name"]):
        result = _one(str(job["name"]), params, prep, level_three=False)
    else:
        result = _one(str(job["name"]), params, prep, level_three=True)
    result["level"] = level
    result["config"] = {**cfg, "level": level, ("suite" if level == "I" else "attack"):
                        job["name"], "params": result.get("params", params)}
    result["manifest"] = manifest(cfg, prep)
    return result


def _suite(threat: str, cfg: dict[str, Any], prep: Prepared,
           examples_dir: str | None) -> dict[str, Any]:
    from dii_hpc.audit.evasion import vision_suite as suite

    if threat not in SUITES:
        raise BadInput(f"suite {threat!r} is not available for {prep.model.task.value}; "
                       f"suites: {', '.join(SUITES)}")
    if threat == "poisoning":
        return _poisoning(dict(cfg.get("params") or {}), prep, suite_level=True)
    out = suite.run_suite(prep.model, prep.x, prep.y, seed=prep.seed,
                          attacks=cfg.get("attacks"), examples_dir=examples_dir)
    return {"threat": threat, "params": {}, **out}


def _one(name: str, params: dict[str, Any], prep: Prepared, level_three: bool) -> dict[str, Any]:
    """Level II (catalogue name, range-scaled defaults) or III (any ART class, raw params)."""
    from dii_hpc.audit.evasion import vision_suite as suite
    from dii_hpc.audit.model.validate import check_budget

    model = prep.model
    if name == "backdoor":
        return _poisoning(params, prep, suite_level=False)
    if level_three:
        if "norm" in params:
            params["norm"] = attacks.parse_norm(params["norm"])
        check_budget(params, model.clip_values, int(np.prod(model.input_shape)), name)
        record, _ = attacks.run_class(model, prep.x, prep.y, name, params, prep.seed, name)
    else:
        record, _ = attacks.run_named(model, prep.x, prep.y, name, params, seed=prep.seed)
    metrics = {k: v for k, v in record["metrics"].items() if not isinstance(v, list)}
    return {"threat": "evasion", "task": Task.parse(model.task).value, "attack": name,
            "grade": None, "summary": suite.sentence(model, record["metrics"], name),
            "metrics": metrics, "params": record["params"], "attacks": [record],
            "curves": {}, "sanity": [], "examples": [], "n_samples": len(prep.x)}


def _poisoning(params: dict[str, Any], prep: Prepared, suite_level: bool) -> dict[str, Any]:
    """Backdoor with retraining on the train split, measured on the evaluation sample."""
    from dii_hpc.audit.core import stats
    from dii_hpc.audit.poisoning import vision as poisoning

    fraction = float(params.pop("fraction", 0.1))
    target = int(params.pop("target", 1))
    kind = params.pop("kind", None)
    # a config shared with the evasion audits may carry their budget: not ours to reject
    params = {k: v for k, v in params.items() if k not in EVASION_KEYS}
    if params:
        raise BadInput(f"attack backdoor: unknown parameter(s) {', '.join(params)}")
    record = poisoning.backdoor(prep.model, prep.train, (prep.x, prep.y), fraction, target,
                                prep.seed, kind)
    m = record["metrics"]
    asr = m["attack_success_rate"]
    letter = stats.grade("poisoning", m["attack_success_lift"]) if suite_level else None
    summary = (f"backdoor ({record['params']['kind']}, {fraction:.0%} poisoned): attack "
               f"success rate {asr:.3f} (clean model on triggered images "
               f"{m['baseline_attack_success_rate']:.3f}, lift {m['attack_success_lift']:+.3f})"
               + (f", grade {letter}." if letter else "."))
    out = {"threat": "poisoning", "task": Task.parse(prep.model.task).value, "grade": letter,
           "summary": summary, "metrics": dict(m),
           "params": {"fraction": fraction, "target": target,  # what reruns it
                      "kind": record["params"]["kind"]},
           "attacks": [record], "curves": {}, "sanity": [], "examples": [],
           "n_samples": len(prep.train[0])}
    return out | ({"suite": "poisoning"} if suite_level else {"attack": "backdoor"})


def manifest(cfg: dict[str, Any], prep: Prepared) -> dict[str, Any]:
    """What it takes to reproduce: weights and data hashes, library versions, seed."""
    from dii_hpc import packages

    versions = packages.versions(("adversarial-robustness-toolbox", "torch", "numpy",
                                  "pycocotools", "dii-hpc"))
    out = {"data_sha256": prep.data_sha256, "versions": versions, "seed": prep.seed,
           "model": refs.display(cfg["model"]), "data": refs.display(cfg["data"])}
    weights = getattr(prep.model, "weights_path", None)
    if weights:
        from dii_hpc.store.blobs import file_sha256

        out["weights_sha256"], out["weights_path"] = file_sha256(weights)[0], str(weights)
    return out
