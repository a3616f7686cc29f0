"""Level I poisoning suite: a backdoor per poison fraction, both detectors, label flips.

The suite is a list of independent shards (`shard_keys`), each kept in the job's
checkpoint so that a rerun (or a resubmitted Slurm array, `placement.slurm`) computes only the
missing ones:
- `fraction-<f>` for each fraction of `SUITE_FRACTIONS`: the model retrained on a training
  set backdoored at f; at the largest fraction also ART's two detectors, on that same
  retrained model (they share it, so they belong to its shard);
- `label_flip` (tabular models): the clean accuracy curve over flipped labels, one shard
  because its flips come from one random stream.
Grade: the success rate's lift over the clean model's (same triggered inputs) at the
smallest fraction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core.checkpoint import Checkpoint, cached
from dii_hpc.audit.model.protocols import Predictor, RetrainableModel, Task
from dii_hpc.audit.poisoning import attacks as poisoning
from dii_hpc.audit.poisoning.catalogue import TRIGGERED, VISION
from dii_hpc.audit.specs import Facts, Grading, Suite

SUITE_FRACTIONS = (0.01, 0.05, 0.1)
TRIGGER_BASELINE_MAX = 0.25  # a clean model this fooled by the trigger alone is flagged
DETECTORS = ("activation_defence", "spectral_signature")
GRADING = Grading("attack_success_lift", (0.1, 0.25, 0.5, 0.75), higher_is_better=False,
                  doc="backdoor success rate minus the clean model's on the same triggered "
                      "inputs, at the smallest poison fraction")

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator, Prepared
    from dii_hpc.audit.job import AuditJob


def detectors(model: Predictor) -> tuple[str, ...]:
    """The detectors need the model's activations; without them the suite has none."""
    return DETECTORS if callable(getattr(model, "get_activations", None)) else ()


def shard_keys(task: Task, fractions: tuple[float, ...] = SUITE_FRACTIONS) -> list[str]:
    """The suite's independent shards: one per poison fraction, the label flips (tabular)."""
    return [f"fraction-{f}" for f in fractions] + (
        ["label_flip"] if task is Task.TABULAR_CLASSIFICATION else [])


def blocked(shard: str) -> bool:
    """No poisoning shard is one blocked generation: `sample_shards` never splits them."""
    return False


def compute_shard(model: RetrainableModel, train: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], seed: int, target: int, shard: str,
                  ck: Checkpoint, fractions: tuple[float, ...] = SUITE_FRACTIONS
                  ) -> dict[str, Any]:
    """One shard's record, computed or loaded from `ck` (what a Slurm array task runs)."""
    kind, _, arg = shard.partition("-")

    def fraction() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        frac = float(arg)
        record, victim = poisoning.backdoor(model, train, test, frac, target, seed)
        found = [poisoning.detect(name, model, train, frac, target, seed, victim)
                 for name in (detectors(model) if frac == fractions[-1] else ())]
        return {"backdoor": record, "detectors": found}, {}

    def flip() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return poisoning.label_flip(model, train, test, seed=seed), {}

    return cached(ck, shard, fraction if kind == "fraction" else flip)[0]


def run_suite(model: RetrainableModel, train: tuple[np.ndarray, np.ndarray],
              test: tuple[np.ndarray, np.ndarray], *, target: int = 0, seed: int = 0,
              fractions: tuple[float, ...] = SUITE_FRACTIONS,
              ck: Checkpoint | None = None) -> dict[str, Any]:
    """The suite on the model: backdoors, then detectors, then the label-flip curve."""
    task = poisoning.check(model, "poisoning suite", RetrainableModel)
    ck = ck or Checkpoint(None)
    keys = shard_keys(task, fractions)
    shards = {}
    with progress.bar("poisoning suite: shards", len(keys)) as bar:
        for key in keys:
            shards[key] = compute_shard(model, train, test, seed, target, key, ck, fractions)
            bar.advance()
    backdoors = [shards[f"fraction-{f}"]["backdoor"] for f in fractions]
    records = [*backdoors, *(r for f in fractions for r in shards[f"fraction-{f}"]["detectors"])]
    shown = ("fraction", "attack_success_rate", "baseline_attack_success_rate", "clean_accuracy")
    curves: dict[str, Any] = {"backdoor": [{k: r["metrics"][k] for k in shown}
                                           for r in backdoors]}
    if "label_flip" in shards:
        records.append(shards["label_flip"])
        curves["label_flip"] = shards["label_flip"]["curve"]
    first = records[0]["metrics"]
    last = records[len(fractions) - 1]["metrics"]
    letter = GRADING.grade(first["attack_success_lift"])
    metrics = {"attack_success_lift": first["attack_success_lift"],
               "attack_success_rate": first["attack_success_rate"],
               "baseline_attack_success_rate": first["baseline_attack_success_rate"],
               "attack_success_rate_max_fraction": last["attack_success_rate"],
               "attack_success_lift_max_fraction": last["attack_success_lift"],
               "clean_accuracy": last["baseline_clean_accuracy"],
               "max_clean_accuracy_drop": max(r["metrics"]["clean_accuracy_drop"]
                                              for r in backdoors)}
    return {"task": task.value, "suite": "poisoning", "grade": letter,
            "summary": _sentence(first, last, fractions, target, letter),
            "metrics": metrics, "attacks": records, "curves": curves,
            "sanity": [_trigger_flag(first["baseline_attack_success_rate"], target)],
            "examples": [], "n_samples": int(len(train[0]))}


def _sentence(first: dict[str, Any], last: dict[str, Any], fractions: tuple[float, ...],
              target: int, letter: str | None) -> str:
    return (f"A backdoor in {first['fraction']:.0%} of the training set sends "
            f"{first['attack_success_rate']:.1%} of triggered inputs to class {target}; the "
            f"clean model already sends {first['baseline_attack_success_rate']:.1%}, so the "
            f"poisoning adds {first['attack_success_lift']:+.1%} "
            f"({last['attack_success_lift']:+.1%} at {fractions[-1]:.0%}; grade {letter}).")


def _trigger_flag(baseline: float, target: int) -> dict[str, Any]:
    """A trigger that flips the clean model by itself measures the trigger, not poisoning."""
    return {"flag": "trigger_alone_flips_clean_model", "ok": baseline <= TRIGGER_BASELINE_MAX,
            "detail": f"the un-poisoned model sends {baseline:.1%} of triggered non-target "
                      f"test inputs to class {target} (flagged above "
                      f"{TRIGGER_BASELINE_MAX:.0%}: the success rate owes that much to the "
                      "trigger alone)"}


# ---- the suite's record -----------------------------------------------------------------------
def target_of(job: AuditJob) -> int:
    """The suite's target class (`params: {target: k}`, default 0)."""
    return int(job.config.params.get("target", 0))


def _run(job: AuditJob, prep: Prepared, generator: Generator | None, examples_dir: str | None,
         ck: Checkpoint) -> dict[str, Any]:
    if prep.task.is_vision:
        from dii_hpc.audit.poisoning import vision

        return vision.suite(prep, dict(job.config.params), GRADING)
    return run_suite(prep.model, prep.train, prep.test, seed=prep.seed, target=target_of(job),
                     ck=ck)


def _plan(job: AuditJob, facts: Facts) -> list[str]:
    from dii_hpc.errors import BadInput

    assert facts.task is not None
    if facts.task.is_vision:
        raise BadInput(f"the poisoning suite of {facts.task.value} runs in one process; drop "
                       "--executor slurm")
    return shard_keys(facts.task)


def _compute(job: AuditJob, prep: Prepared, shard: str, ck: Checkpoint,
             generator: Generator | None) -> None:
    compute_shard(prep.model, prep.train, prep.test, prep.seed, target_of(job), shard, ck)


POISONING = Suite(
    "poisoning", "poisoning",
    "a backdoor per poison fraction with retraining, both poison detectors, label flips "
    "(tabular); graded on the success rate's lift over the clean model's",
    TRIGGERED + VISION, GRADING, _run, _plan, _compute)
