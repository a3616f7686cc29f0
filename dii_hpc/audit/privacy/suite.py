"""Level I privacy suite: every membership attack of the task, graded on evidence.

Grade: the highest *lower bound* of the attacks' 95% AUC intervals (`stats.GRADE_THRESHOLDS
["privacy"]`). A point AUC from a small sample (the label-only attack once scored 10
members and 10 non-members) can come out above a real leak by chance; its interval is wide,
so its lower bound stays low. The grade therefore says "some attack separates members from
non-members at least this well", and `max_membership_auc` (the best point AUC) sits
beside it. Each attack is a shard kept in the job's checkpoint (resume, Slurm array tasks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core import sample_shards, stats
from dii_hpc.audit.core.checkpoint import Checkpoint, cached
from dii_hpc.audit.model.protocols import Task
from dii_hpc.audit.privacy import membership as privacy

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob

SMALL_SAMPLE = 50  # per side: below this an attack's AUC interval is wider than +-0.1


def suite_attacks(task: Task, attacks: list[str] | None = None,
                  retrainable: bool = False) -> list[str]:
    """The suite's attacks for `task` (`attacks` may only drop some); LiRA and RMIA when
    the model can be retrained (`fit`: their reference models) and classifies."""
    full = list(privacy.REGRESSION_SUITE if task.is_regression
                else privacy.CLASSIFICATION_SUITE)
    if retrainable and task.is_classification:
        from dii_hpc.audit.privacy.reference.attacks import SUITE

        full += list(SUITE)
    if task is Task.TABULAR_CLASSIFICATION:
        full.append("attribute_inference")
    return [a for a in full if not attacks or a in attacks]


def shard_keys(task: Task, attacks: list[str] | None = None,
               retrainable: bool = False) -> list[str]:
    """The suite's independent shards: one per attack."""
    return [f"attack-{a}" for a in suite_attacks(task, attacks, retrainable)]


def blocked(shard: str) -> bool:
    """Shards whose work is one blocked generation (they can be split by samples)."""
    return shard == "attack-mi_label_only"


def compute_shard(model: Any, members: tuple[np.ndarray, np.ndarray],
                  nonmembers: tuple[np.ndarray, np.ndarray], n: int, seed: int, shard: str,
                  ck: Checkpoint, generator: Any = None,
                  job: AuditJob | None = None) -> dict[str, Any]:
    """One attack's record (`attack-<name>`), computed or loaded from `ck` (the label-only
    attack's HopSkipJump may have been split over tasks by samples: `sample_shards`;
    LiRA/RMIA need the config: their reference models are keyed by its trainer)."""
    name = shard.partition("-")[2]
    generator = sample_shards.reader(ck, shard, generator)

    def attack() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if name in privacy.REFERENCE_ATTACKS:
            from dii_hpc.audit.privacy.reference import attacks as reference_attacks

            assert job is not None, "LiRA/RMIA shards come from a job (its model reference)"
            return reference_attacks.suite_record(name, model, members, nonmembers, n, seed,
                                                  job), {}
        if name == "attribute_inference":
            from dii_hpc.audit.privacy import attribute

            return attribute.run(model, members, seed=seed), {}
        x, y, is_member = privacy.membership_sets(members, nonmembers, n, seed)
        return privacy.run_attack(name, model, x, y, is_member, seed=seed,
                                  generator=generator), {}

    return cached(ck, shard, attack)[0]


def run_suite(model: Any, members: tuple[np.ndarray, np.ndarray],
              nonmembers: tuple[np.ndarray, np.ndarray], *, n: int = 200, seed: int = 0,
              attacks: list[str] | None = None, generator: Any = None,
              ck: Checkpoint | None = None, job: AuditJob | None = None) -> dict[str, Any]:
    """Run the suite and return the audit section (without config/level keys); LiRA and
    RMIA join when `job` (the audit: its model reference keys their models) is given and the model
    has `fit`."""
    task = Task.parse(model.task)
    ck = ck or Checkpoint(None)
    retrain = job is not None and callable(getattr(model, "fit", None))
    keys = shard_keys(task, attacks, retrain)
    records = []
    with progress.bar("privacy suite: attacks", len(keys)) as bar:
        for key in keys:
            records.append(compute_shard(model, members, nonmembers, n, seed, key, ck, generator,
                                         job))
            bar.advance()
    membership = [r for r in records if r["name"] != "attribute_inference"]
    best = max(membership, key=lambda r: (_lower(r), r["metrics"]["auc"]))
    metrics = {"membership_auc_lower_bound": _lower(best),
               "max_membership_auc": max(r["metrics"]["auc"] for r in membership),
               "max_advantage": max(r["metrics"].get("advantage", 0.0) for r in membership),
               "max_tpr_at_1pct_fpr": max(r["metrics"].get("tpr_at_1pct_fpr", 0.0)
                                          for r in membership)}
    if records[-1]["name"] == "attribute_inference":
        metrics["attribute_model_leakage"] = records[-1]["metrics"]["model_leakage"]
    x, y, is_member = privacy.membership_sets(members, nonmembers, n, seed)
    if not task.is_regression:
        correct = np.argmax(model.predict(x), axis=1) == y
        metrics |= {"train_accuracy": float(correct[is_member].mean()),
                    "test_accuracy": float(correct[~is_member].mean())}
    letter = stats.grade("privacy", metrics["membership_auc_lower_bound"])
    return {"task": task.value, "suite": "privacy", "grade": letter,
            "summary": _sentence(best, letter), "metrics": metrics, "attacks": records,
            "curves": {"roc": best["roc"]},
            "sanity": _sanity(membership, int(is_member.sum())) + _reference_flag(task, model, retrain),
            "examples": [], "n_samples": int(len(x))}


def _reference_flag(task: Task, model: Any, retrain: bool) -> list[dict[str, Any]]:
    """Say when the field's standard attacks (LiRA, RMIA) could not run, and why."""
    if retrain or not task.is_classification:
        return []
    why = ("run_suite was given no audit job, whose model reference keys their reference models"
           if callable(getattr(model, "fit", None)) else
           "their reference models are retrained with model.fit(x, y), which this model "
           "does not implement")
    return [{"flag": "reference_attacks", "ok": False, "detail": f"LiRA and RMIA skipped: {why}"}]


def _lower(record: dict[str, Any]) -> float:
    return float(record["intervals"]["auc"][0])


def _sentence(best: dict[str, Any], letter: str | None) -> str:
    m, (lo, hi) = best["metrics"], best["intervals"]["auc"]
    return (f"The strongest membership attack ({best['name']}, {m['n_members']} members and "
            f"{m['n_non_members']} non-members) reaches AUC {m['auc']:.3f} (95% interval "
            f"{lo:.3f} to {hi:.3f}); graded on the lower bound: grade {letter}.")


def _sanity(records: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    smallest = min(records, key=lambda r: min(r["metrics"]["n_members"],
                                              r["metrics"]["n_non_members"]))
    side = min(smallest["metrics"]["n_members"], smallest["metrics"]["n_non_members"])
    return [{"flag": "enough_samples_for_low_fpr", "ok": k >= 1000,
             "detail": f"{k} non-members: TPR at 0.1% FPR needs >= 1000 to be meaningful"},
            {"flag": "small_attack_sample", "ok": side >= SMALL_SAMPLE,
             "detail": f"smallest attack sample: {smallest['name']} scores {side} per side "
                       f"(below {SMALL_SAMPLE} its AUC interval is wider than +-0.1)"}]
