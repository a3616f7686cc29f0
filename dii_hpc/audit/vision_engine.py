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

from typing import Any

import numpy as np

from dii_hpc.audit.core import data
from dii_hpc.audit.core.data import Prepared
from dii_hpc.audit.evasion import vision as attacks
from dii_hpc.audit.job import AuditJob
from dii_hpc.audit.model.protocols import Task
from dii_hpc.errors import BadInput

TASKS = (Task.OBJECT_DETECTION.value, Task.IMAGE_SEGMENTATION.value)
SUITES = ("evasion", "poisoning")
EVASION_KEYS = {"eps", "eps_step", "max_iter", "norm", "num_random_init", "batch_size"}


def handles(job: AuditJob, model: Any = None) -> bool:
    """True when the config's `task`, else the model's own, is one of ours (the main engine
    hands the job over; a registered detector needs no `task:` in the config)."""
    task = job.config.task or getattr(model, "task", None)
    return str(getattr(task, "value", task) or "") in TASKS


def compute(job: AuditJob, generator: Any = None, examples_dir: str | None = None,
            model: Any = None) -> dict[str, Any]:
    """Run one audit job and return its result dict (`generator` is unused: no MPI here;
    `model`: already built by the caller)."""
    prep = data.prepare(job, model)
    params = dict(job.params)
    if job.level == "I":
        result = _suite(job.name, job, prep, examples_dir)
    else:
        result = _one(job.name, params, prep, level_three=job.level == "III" and "." in job.name)
    result["level"] = job.level
    result["config"] = job.record() | {"params": result.get("params", params)}
    result["manifest"] = data.manifest(job, prep)
    return result


def _suite(threat: str, job: AuditJob, prep: Prepared,
           examples_dir: str | None) -> dict[str, Any]:
    from dii_hpc.audit.evasion import vision_suite as suite

    if threat not in SUITES:
        raise BadInput(f"suite {threat!r} is not available for {prep.model.task.value}; "
                       f"suites: {', '.join(SUITES)}")
    if threat == "poisoning":
        return _poisoning(dict(job.config.params), prep, suite_level=True)
    out = suite.run_suite(prep.model, prep.x, prep.y, seed=prep.seed,
                          attacks=job.config.attacks, examples_dir=examples_dir)
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
