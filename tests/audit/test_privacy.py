"""Membership inference: the gap attack identity, overfit vs regularised, ROC statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.core import stats
from dii_hpc.audit.privacy import membership as privacy
from dii_hpc.audit.privacy import suite as privacy_suite

OVERFIT = {"epochs": 150, "hidden": 256, "lr": 3e-3}
REGULARISED = {"epochs": 20, "weight_decay": 1e-2}


@pytest.fixture(scope="session")
def noisy(demo_cache: Path) -> dict[str, Any]:
    from dii_hpc.examples.tabular import noisy_data, noisy_model

    return {"data": noisy_data(), "overfit": noisy_model(**OVERFIT),
            "regularised": noisy_model(**REGULARISED)}


def test_gap_attack_balanced_accuracy_identity(noisy: dict[str, Any]) -> None:
    data = noisy["data"]
    x, y, member = privacy.membership_sets(data.get_train_data(), data.get_test_data(), 150, 0)
    for key in ("overfit", "regularised"):
        model = noisy[key]
        record = privacy.run_attack("mi_gap", model, x, y, member)
        correct = np.argmax(model.predict(x), axis=1) == y
        train_acc, test_acc = correct[member].mean(), correct[~member].mean()
        expected = 0.5 + (train_acc - test_acc) / 2
        assert abs(record["metrics"]["balanced_accuracy"] - expected) <= 1e-9


def test_overfit_model_leaks_membership_more(noisy: dict[str, Any]) -> None:
    data = noisy["data"]
    aucs = {}
    for key in ("overfit", "regularised"):
        out = privacy_suite.run_suite(noisy[key], data.get_train_data(), data.get_test_data(), n=200,
                                      attacks=["mi_loss", "mi_confidence", "mi_gap",
                                               "mi_blackbox"])
        aucs[key] = out["metrics"]["max_membership_auc"]
        roc = out["curves"]["roc"]
        assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
        assert out["grade"] in tuple("ABCDE")
    assert out["metrics"]["train_accuracy"] < 0.95  # the regularised one does not memorise
    assert aucs["overfit"] >= 0.62
    assert aucs["overfit"] > aucs["regularised"] + 0.08


def test_roc_statistics_on_known_scores() -> None:
    member = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    perfect = stats.roc_summary(member, member.astype(float))
    assert perfect["auc"] == 1.0 and perfect["tpr_at_0.1pct_fpr"] == 1.0
    rng = np.random.default_rng(0)
    noise = stats.roc_summary(member, rng.random(2000))
    assert abs(noise["auc"] - 0.5) < 0.05 and noise["tpr_at_1pct_fpr"] < 0.05
    assert stats.balanced_accuracy(member, member) == 1.0
    lo, hi = stats.clopper_pearson(5, 10)
    assert lo == pytest.approx(0.187086, abs=1e-5) and hi == pytest.approx(0.812914, abs=1e-5)
    assert stats.clopper_pearson(0, 10)[0] == 0.0 and stats.clopper_pearson(10, 10)[1] == 1.0


def test_grades_follow_documented_thresholds() -> None:
    from dii_hpc.audit.specs import suite

    privacy, evasion, poisoning = (suite(n).grading for n in ("privacy", "evasion", "poisoning"))
    assert privacy.grade(0.5) == "A" and privacy.grade(0.9) == "E"
    assert evasion.grade(0.85) == "A" and evasion.grade(0.1) == "E"
    assert poisoning.grade(0.3) == "C" and evasion.grade(None) is None
    assert privacy.metric == "membership_auc_lower_bound"
    assert poisoning.metric == "attack_success_lift"


def test_attribute_inference_through_the_cli(tmp_path: Path, store_path: Path,
                                             demo_cache: Path) -> None:
    import json

    from tests.audit.conftest import cli

    out = tmp_path / "attr.json"
    assert cli("audit", "attack", "attribute_inference", "--model",
               "dii_hpc.examples.tabular:breast_cancer_model", "--data",
               "dii_hpc.examples.tabular:breast_cancer_data", "-p", "feature=7",
               "--json", str(out), "--no-store") == 0
    m = json.loads(out.read_text())["metrics"]
    assert m["mae"] < m["mae_mean_guess"] and -1.0 < m["model_leakage"] < 1.0
    assert cli("audit", "attack", "attribute_inference", "--model",
               "dii_hpc.examples.tabular:breast_cancer_model", "--data",
               "dii_hpc.examples.tabular:breast_cancer_data", "-p", "feature=99",
               "--no-store") == 2


@pytest.mark.slow
def test_grade_orders_overfit_below_regularised_across_seeds(noisy: dict[str, Any]) -> None:
    """The full suite, label-only attack included, on five seeds: the overfit model's
    evidence of leakage (AUC lower bound) and grade are worse every time."""
    data = noisy["data"]
    for seed in range(5):
        out = {key: privacy_suite.run_suite(noisy[key], data.get_train_data(),
                                            data.get_test_data(), n=100, seed=seed,
                                            attacks=list(privacy_suite.MEMBERSHIP))
               for key in ("overfit", "regularised")}
        lower = {k: o["metrics"]["membership_auc_lower_bound"] for k, o in out.items()}
        assert lower["overfit"] > lower["regularised"] + 0.1, (seed, lower)
        assert "ABCDE".index(out["overfit"]["grade"]) > "ABCDE".index(out["regularised"]["grade"])


def test_small_samples_cannot_decide_the_grade() -> None:
    """10 + 10 samples with a point AUC of 0.68 (the label-only case of the issue): the
    interval reaches below a coin flip, so the lower bound grades A."""
    member = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    score = np.r_[np.arange(10) + 2.0, np.arange(10)].astype(float)  # AUC 0.68 with ties
    assert stats.roc_summary(member, score)["auc"] == pytest.approx(0.68)
    lo, hi = stats.auc_interval(member, score, seed=0)
    assert lo < 0.55 < 0.68 < hi and privacy_suite.GRADING.grade(lo) == "A"
    assert stats.auc_interval(member, score, seed=0) == [lo, hi]  # seeded: reproducible
    wide = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    rng = np.random.default_rng(0)
    lo_big, hi_big = stats.auc_interval(wide, rng.normal(size=1000) + 0.66 * wide, seed=0)
    assert hi_big - lo_big < (hi - lo) / 3


def test_records_carry_sample_sizes_intervals_and_values(noisy: dict[str, Any]) -> None:
    data = noisy["data"]
    x, y, member = privacy.membership_sets(data.get_train_data(), data.get_test_data(), 60, 0)
    for name in ("mi_loss", "mi_gap", "mi_blackbox"):
        record = privacy.run_attack(name, noisy["overfit"], x, y, member)
        m, iv = record["metrics"], record["intervals"]
        expected = 30 if name == "mi_blackbox" else 60  # the attack model fits on one half
        assert m["n_members"] == m["n_non_members"] == expected
        assert iv["auc"][0] <= m["auc"] <= iv["auc"][1]
        for key in ("tpr", "fpr"):  # every interval has its value beside it
            assert iv[key][0] <= m[key] <= iv[key][1]


def test_membership_scores_in_float64_do_not_tie_at_zero(noisy: dict[str, Any]) -> None:
    """Float32 losses of well-fit training samples are exactly 0 and tie; float64 keeps
    them apart, which is what TPR at low FPR is made of."""
    import torch

    model, data = noisy["overfit"], noisy["data"]
    x, y, member = privacy.membership_sets(data.get_train_data(), data.get_test_data(), 200, 0)
    loss = model.get_loss(x, y)
    with torch.no_grad():
        out = model.module(torch.as_tensor(x, dtype=torch.float32))
        loss32 = torch.nn.functional.cross_entropy(out, torch.as_tensor(y), reduction="none")
    assert loss.dtype == np.float64 and (loss32.numpy() == 0).sum() >= 10
    assert (loss == 0).sum() <= 1
    record = privacy.run_attack("mi_loss", model, x, y, member)
    assert record["metrics"]["tpr_at_1pct_fpr"] == stats.roc_summary(member, -loss)[
        "tpr_at_1pct_fpr"] > stats.roc_summary(member, -loss32.numpy())["tpr_at_1pct_fpr"]
    conf = privacy.true_class_log_prob(model.predict(x), y)
    assert (conf == 0).sum() <= 1 and np.isfinite(conf).all()


def test_label_only_score_ranks_as_arts_label_only_attack(noisy: dict[str, Any]) -> None:
    """Our boundary distance and ART's LabelOnlyDecisionBoundary probabilities (a sigmoid
    of the same distance), with the same seed, give the same ROC."""
    from art.attacks.inference.membership_inference import LabelOnlyDecisionBoundary

    from dii_hpc.audit.core import randomness
    from dii_hpc.audit.model.adapter import estimator_for

    model, data = noisy["regularised"], noisy["data"]  # small and quick to query
    x, y, member = privacy.membership_sets(data.get_train_data(), data.get_test_data(), 30, 0)
    record = privacy.run_attack("mi_label_only", model, x, y, member, seed=0)
    art = LabelOnlyDecisionBoundary(estimator_for(model, native=False), distance_threshold_tau=0.5)
    with randomness.seeded(randomness.derive(0, "mi_label_only", 0)):  # one 60-sample block
        prob = art.infer(x, y, probabilities=True, verbose=False, **privacy.LABEL_ONLY_HSJ)
    theirs = stats.roc_summary(member, prob[:, 1])
    assert record["metrics"]["auc"] == pytest.approx(theirs["auc"], abs=1e-12)
    assert record["metrics"]["n_members"] == 30
