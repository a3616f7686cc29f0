"""Level III privacy: any ART membership-inference class with any parameters.

The privacy suite's ``raw`` (`specs.Suite`): the class is fitted on half of balanced members
and non-members (when it learns) and infers membership probabilities on the other half; the
record has the ROC's AUC (with its bootstrap interval) and TPR at low FPR, no grade.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.privacy import membership
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Prepared
    from dii_hpc.audit.job import AuditJob


def run(job: AuditJob, prep: Prepared) -> dict[str, Any]:
    from dii_hpc.audit.core.results import summary_line
    from dii_hpc.audit.evasion.generate import build, jsonable
    from dii_hpc.audit.model.adapter import estimator_for

    path, params = job.name, dict(job.params)
    x, y, member = membership.membership_sets(prep.train, prep.test, len(prep.x), prep.seed)
    fit, held = membership.halves(member, prep.seed)
    seed = randomness.derive(prep.seed, path)
    t0 = time.perf_counter()
    attack = build(path, estimator_for(prep.model), params, path)
    try:
        with randomness.seeded(seed):
            if callable(getattr(attack, "fit", None)):
                attack.fit(x[fit & member], y[fit & member], x[fit & ~member], y[fit & ~member])
            prob = np.asarray(attack.infer(x[held], y[held], probabilities=True),
                              dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {path}: ART failed: {str(err).splitlines()[0]}") from err
    score = prob[:, -1] if prob.ndim == 2 else prob.reshape(-1)
    roc = stats.roc_summary(member[held], score)
    metrics = {k: roc[k] for k in ("auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr")}
    metrics |= {"n_members": int(member[held].sum()), "n_non_members": int((~member[held]).sum())}
    record = {"name": path, "params": jsonable(params), "metrics": metrics,
              "intervals": {"auc": stats.auc_interval(member[held], score, seed)},
              "time_s": time.perf_counter() - t0, "seeds": [seed]}
    return {"threat": "privacy", "task": prep.task.value, "attack": path, "grade": None,
            "summary": summary_line(path, metrics), "metrics": metrics,
            "params": record["params"], "attacks": [record],
            "curves": {"roc": {k: roc[k] for k in ("fpr", "tpr", "auc")}}, "sanity": [],
            "examples": [], "n_samples": int(held.sum())}
