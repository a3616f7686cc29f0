"""Attribute inference on tabular data: can the model's outputs reveal a hidden feature?

The attacker knows half of the training records in full and, for the other half, every
feature but one plus the model's predicted label. ART's AttributeInferenceBlackBox learns
the hidden feature from (other features, prediction); ART's AttributeInferenceBaseline
learns it from the other features alone. The model's own leakage is the relative error
reduction of the first over the second (`model_leakage`, 0 = the model reveals nothing).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.model.protocols import Predictor, Task, require
from dii_hpc.audit.model.validate import pop_number
from dii_hpc.audit.specs import AttackSpec
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.specs import Call, Outcome


def run(model: Predictor, train: tuple[np.ndarray, np.ndarray], params: dict[str, Any] | None = None,
        seed: int = 0) -> dict[str, Any]:
    """One attribute-inference attack on feature `feature` (default: 0) -> attack record."""
    from art.attacks.inference.attribute_inference import (
        AttributeInferenceBaseline,
        AttributeInferenceBlackBox,
    )

    from dii_hpc.audit.core import randomness
    from dii_hpc.audit.model.adapter import estimator_for

    params = dict(params or {})
    task = Task.parse(model.task)
    if task is not Task.TABULAR_CLASSIFICATION:
        raise BadInput(f"attack attribute_inference needs tabular classification, not {task.value}")
    require(model, Predictor, "attack attribute_inference")
    x = np.asarray(train[0])
    feature = pop_number(params, "feature", 0, "attribute_inference", int)
    if not 0 <= feature < x.shape[1]:
        raise BadInput(f"attack attribute_inference: feature={feature} is not a column index "
                       f"(0..{x.shape[1] - 1})")
    kind = params.pop("attack_model_type", "rf")
    if params:
        raise BadInput(f"attack attribute_inference: unknown parameter(s) {', '.join(params)}")
    t0 = time.perf_counter()
    call_seed = randomness.derive(seed, "attribute_inference")
    order = np.random.default_rng(seed).permutation(len(x))
    known, target = x[order[: len(x) // 2]], x[order[len(x) // 2:]]
    est = estimator_for(model)
    hidden = np.delete(target, feature, axis=1)
    pred = np.argmax(est.predict(target), axis=1).reshape(-1, 1).astype(np.float32)
    try:  # ART's forests draw from numpy's global generator: seeded around the calls
        with randomness.seeded(call_seed):
            attack = AttributeInferenceBlackBox(est, attack_model_type=kind,
                                                attack_feature=feature, is_continuous=True)
            attack.fit(known)
            inferred = np.asarray(attack.infer(hidden, pred=pred)).reshape(-1)
            base = AttributeInferenceBaseline(attack_model_type=kind, attack_feature=feature,
                                              is_continuous=True)
            base.fit(known)
            baseline = np.asarray(base.infer(hidden)).reshape(-1)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack attribute_inference: ART rejected the parameters: {err}") from err
    truth = target[:, feature]
    mae, mae_base = float(np.abs(inferred - truth).mean()), float(np.abs(baseline - truth).mean())
    var = float(truth.var()) or 1e-12
    metrics = {"mae": mae, "mae_baseline": mae_base,
               "mae_mean_guess": float(np.abs(truth - truth.mean()).mean()),
               "r2": 1 - float(((inferred - truth) ** 2).mean()) / var,
               "model_leakage": (mae_base - mae) / max(mae_base, 1e-12)}
    return {"name": "attribute_inference",
            "params": {"feature": feature, "attack_model_type": kind, "seed": seed},
            "metrics": metrics, "intervals": {}, "time_s": time.perf_counter() - t0,
            "seeds": [call_seed]}


def _run(spec: AttackSpec, call: Call) -> Outcome:
    from dii_hpc.audit.specs import Outcome

    record = run(call.model, call.prep.train, dict(call.params), call.seed)
    return Outcome(record, len(call.prep.train[0]))


ATTRIBUTE_INFERENCE = AttackSpec(
    "attribute_inference", "privacy", "art", (Task.TABULAR_CLASSIFICATION.value,), Predictor,
    _run, "hidden tabular feature from the others + the model (ART)")
