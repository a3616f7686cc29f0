"""Poisoning: a 10% backdoor on digits, ART detectors scored against the known poison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.poisoning import attacks as poisoning
from dii_hpc.audit.poisoning import suite as poisoning_suite


@pytest.fixture(scope="session")
def backdoored(digits: tuple[Any, Any]) -> tuple[dict[str, Any], Any]:
    model, data = digits
    return poisoning.backdoor(model, data.get_train_data(), data.get_test_data(),
                              fraction=0.1, target=0, seed=0)


def test_backdoor_at_ten_percent_on_digits(backdoored: tuple[dict[str, Any], Any],
                                           digits: tuple[Any, Any]) -> None:
    record, victim = backdoored
    m = record["metrics"]
    assert m["attack_success_rate"] >= 0.9
    assert m["attack_success_lift"] == m["attack_success_rate"] - m["baseline_attack_success_rate"]
    assert m["baseline_attack_success_rate"] <= 0.25  # the clean CNN mostly ignores the patch
    assert m["clean_accuracy_drop"] <= 0.05
    assert victim is not digits[0]  # the audited model was not retrained in place
    assert m["baseline_clean_accuracy"] == pytest.approx(
        float((np.argmax(digits[0].predict(digits[1].x_test), 1) == digits[1].y_test).mean()))


def test_poison_marks_exactly_the_requested_fraction(digits: tuple[Any, Any]) -> None:
    model, data = digits
    x, y = data.get_train_data()
    xp, yp, mask = poisoning.poison(model, x, y, 0.1, target=3, seed=1)
    assert mask.sum() == round(0.1 * len(x))
    assert (yp[mask] == 3).all() and (y[mask] != 3).all()
    assert (xp[mask][:, 0, -1, -1] == 1.0).all() and np.array_equal(xp[~mask], x[~mask])


@pytest.mark.parametrize("name", ["activation_defence", "spectral_signature"])
def test_detectors_scored_against_known_poison(name: str, digits: tuple[Any, Any],
                                               backdoored: tuple[dict[str, Any], Any]) -> None:
    model, data = digits
    record = poisoning.detect(name, model, data.get_train_data(), 0.1, victim=backdoored[1])
    m = record["metrics"]
    assert m["poisoned"] == round(0.1 * len(data.x_train))
    assert 0.0 <= m["precision"] <= 1.0 and 0.0 < m["recall"] <= 1.0
    assert m["flagged"] > 0


def test_label_flip_curve_on_tabular(demo_cache: Path) -> None:
    from dii_hpc.examples.tabular import breast_cancer_data, breast_cancer_model

    data = breast_cancer_data()
    model = breast_cancer_model(epochs=20)
    out = poisoning.label_flip(model, data.get_train_data(), data.get_test_data(),
                               fractions=(0.0, 0.45))
    accs = [p["clean_accuracy"] for p in out["curve"]]
    assert accs[0] > 0.9 and accs[1] < accs[0]


def test_clean_label_backdoor_keeps_labels(digits: tuple[Any, Any]) -> None:
    model, data = digits
    record = poisoning.clean_label(model, data.get_train_data(), data.get_test_data(),
                                   fraction=0.3, target=0)
    m = record["metrics"]
    assert 0 < m["poisoned"] <= int(0.3 * (data.y_train == 0).sum())
    assert 0.0 <= m["attack_success_rate"] <= 1.0 and m["clean_accuracy"] > 0.85


def test_backdoor_baseline_when_the_trigger_alone_flips_the_model() -> None:
    """The clean model already sends every triggered input to the target: no lift, no
    blame on poisoning, and the trigger is flagged."""
    from dii_hpc.examples.tabular import breast_cancer_data
    from tests.audit.factories import trigger_flips

    data = breast_cancer_data()
    out = poisoning_suite.run_suite(trigger_flips(), data.get_train_data(),
                                    data.get_test_data(), target=0, fractions=(0.05,))
    m = out["metrics"]
    assert m["attack_success_rate"] == m["baseline_attack_success_rate"] == 1.0
    assert m["attack_success_lift"] == 0.0 and out["grade"] == "A"
    flag = {f["flag"]: f for f in out["sanity"]}["trigger_alone_flips_clean_model"]
    assert not flag["ok"] and "100.0%" in flag["detail"]
    assert "clean model already sends 100.0%" in out["summary"]
    curve = out["curves"]["backdoor"][0]
    assert curve["baseline_attack_success_rate"] == 1.0
