"""Level III evasion: any ART attack class with any parameters; raw metrics, no analysis.

The evasion suite's ``raw`` (`specs.Suite`): the class is built on the model's estimator with
the user's parameters only (a budget still checked against the data's range), generated
under the audit's seeds and scored like a catalogue attack; detectors and segmenters score
their task metrics (`evasion.vision.run_class`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import randomness
from dii_hpc.audit.evasion import generate

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator, Prepared
    from dii_hpc.audit.job import AuditJob


def run(job: AuditJob, prep: Prepared, generator: Generator | None) -> dict[str, Any]:
    from dii_hpc.audit.core.results import summary_line
    from dii_hpc.audit.model.validate import check_budget

    path, params, model = job.name, dict(job.params), prep.model
    if "norm" in params:
        params["norm"] = generate.parse_norm(params["norm"])
    check_budget(params, model.clip_values, int(np.prod(model.input_shape)), path)
    if prep.task.is_vision:
        return _vision(path, params, prep)
    from dii_hpc.audit.evasion.score import score
    from dii_hpc.audit.model.adapter import estimator_for

    attack = generate.build(path, estimator_for(model), params, path)
    t0 = time.perf_counter()
    x_adv = generate.generate_shown(attack, prep.x, prep.y, prep.seed, path, generator=generator)
    metrics, intervals, _ = score(model, prep.x, prep.y, x_adv)
    record = {"name": path, "params": generate.jsonable(params), "metrics": metrics,
              "intervals": intervals, "time_s": time.perf_counter() - t0,
              "seeds": randomness.block_seeds(prep.seed, path, len(prep.x))}
    return {"threat": "evasion", "task": prep.task.value, "attack": path, "grade": None,
            "summary": summary_line(path, metrics), "metrics": metrics,
            "params": record["params"], "attacks": [record], "curves": {}, "sanity": [],
            "examples": [], "n_samples": int(len(prep.x))}


def _vision(path: str, params: dict[str, Any], prep: Prepared) -> dict[str, Any]:
    from dii_hpc.audit.evasion import vision
    from dii_hpc.audit.evasion.vision import sentence

    record, _ = vision.run_class(prep.model, prep.x, prep.y, path, params, prep.seed, path)
    metrics = {k: v for k, v in record["metrics"].items() if not isinstance(v, list)}
    return {"threat": "evasion", "task": prep.task.value, "attack": path, "grade": None,
            "summary": sentence(prep.model, record["metrics"], path), "metrics": metrics,
            "params": record["params"], "attacks": [record], "curves": {}, "sanity": [],
            "examples": [], "n_samples": len(prep.x)}
