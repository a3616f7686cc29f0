"""Membership inference: the gap attack identity, overfit vs regularised, ROC statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit import privacy, privacy_suite, stats

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
    assert stats.grade("privacy", 0.5) == "A" and stats.grade("privacy", 0.9) == "E"
    assert stats.grade("evasion", 0.85) == "A" and stats.grade("evasion", 0.1) == "E"
    assert stats.grade("poisoning", 0.3) == "C" and stats.grade("evasion", None) is None
    assert stats.GRADE_THRESHOLDS["privacy"][0] == "membership_auc_lower_bound"
    assert stats.GRADE_THRESHOLDS["poisoning"][0] == "attack_success_lift"


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
