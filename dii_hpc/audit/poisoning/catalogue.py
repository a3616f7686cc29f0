"""The poisoning catalogue: one `AttackSpec` per attack (level II; the suite: `suite`).

Every attack retrains a copy of the model with its own recipe (`fit`). A level II run takes
``fraction`` (default 0.1) and ``target`` (default 0; object class 1 on detectors and
segmenters) and refuses parameters it does not know; the detectors pass the rest to ART.
"""

from __future__ import annotations

from typing import Any

from dii_hpc.audit.model.protocols import (
    ActivationModel,
    GradientRetrainableModel,
    RetrainableModel,
    Task,
)
from dii_hpc.audit.model.validate import pop_number
from dii_hpc.audit.poisoning import attacks as poisoning
from dii_hpc.audit.specs import AttackSpec, Call, Outcome
from dii_hpc.errors import BadInput

TRIGGERED = tuple(t.value for t in (Task.IMAGE_CLASSIFICATION, Task.TIMESERIES_CLASSIFICATION,
                                    Task.TABULAR_CLASSIFICATION))
VISION = (Task.OBJECT_DETECTION.value, Task.IMAGE_SEGMENTATION.value)


def _budget(spec: AttackSpec, params: dict[str, Any]) -> tuple[float, int]:
    return (pop_number(params, "fraction", 0.1, spec.name),
            pop_number(params, "target", 0, spec.name, int))


def _reject_extra(name: str, params: dict[str, Any]) -> None:
    if params:
        raise BadInput(f"attack {name}: unknown parameter(s) {', '.join(params)}")


def _backdoor(spec: AttackSpec, call: Call) -> Outcome:
    prep, params = call.prep, dict(call.params)
    if prep.task.is_vision:
        from dii_hpc.audit.poisoning import vision

        record, summary, rerun = vision.run(params, prep)
        return Outcome(record, len(prep.train[0]), summary=summary, params=rerun)
    fraction, target = _budget(spec, params)
    _reject_extra(spec.name, params)
    record = poisoning.backdoor(prep.model, prep.train, prep.test, fraction, target,
                                prep.seed)[0]
    return Outcome(record, len(prep.train[0]))


def _clean_label(spec: AttackSpec, call: Call) -> Outcome:
    prep, params = call.prep, dict(call.params)
    fraction, target = _budget(spec, params)
    eps = params.pop("eps", None)
    _reject_extra(spec.name, params)
    return Outcome(poisoning.clean_label(prep.model, prep.train, prep.test, fraction, target,
                                         prep.seed, eps), len(prep.train[0]))


def _label_flip(spec: AttackSpec, call: Call) -> Outcome:
    prep, params = call.prep, dict(call.params)
    fractions = tuple(params.pop("fractions", poisoning.FLIP_FRACTIONS))
    _reject_extra(spec.name, params)
    record = poisoning.label_flip(prep.model, prep.train, prep.test, fractions, prep.seed)
    return Outcome(record, len(prep.train[0]), curves={spec.name: record.pop("curve")})


def _detect(spec: AttackSpec, call: Call) -> Outcome:
    prep, params = call.prep, dict(call.params)
    fraction, target = _budget(spec, params)
    return Outcome(poisoning.detect(spec.name, prep.model, prep.train, fraction, target,
                                    prep.seed, None, params), len(prep.train[0]))


BACKDOOR = AttackSpec(
    "backdoor", "poisoning", "art", TRIGGERED + VISION, RetrainableModel, _backdoor,
    "trigger + relabel a fraction of the training set, retrain, measure success (detectors: "
    "object disappearance or generation; segmenters: region flip)")
ACTIVATION_DEFENCE = AttackSpec(
    "activation_defence", "poisoning", "art", TRIGGERED, ActivationModel, _detect,
    "ART ActivationDefence on a backdoored training set",
    options={"detector": poisoning.activation_defence})
SPECTRAL_SIGNATURE = AttackSpec(
    "spectral_signature", "poisoning", "art", TRIGGERED, ActivationModel, _detect,
    "ART SpectralSignatureDefense on a backdoored training set",
    options={"detector": poisoning.spectral_signature})
LABEL_FLIP = AttackSpec(
    "label_flip", "poisoning", "art", TRIGGERED, RetrainableModel, _label_flip,
    "accuracy after retraining on 0-40% flipped labels (tabular)")
CLEAN_LABEL_BACKDOOR = AttackSpec(
    "clean_label_backdoor", "poisoning", "art", (Task.IMAGE_CLASSIFICATION.value,),
    GradientRetrainableModel, _clean_label,
    "ART clean-label backdoor: PGD-hardened target-class images + trigger, labels untouched "
    "(images)")
