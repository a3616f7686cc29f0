"""Evasion: PGD breaks the undefended digits CNN, dii-hpc == ART direct, adapters, suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.evasion import generate as evasion
from dii_hpc.errors import BadInput

# Documented budget: Linf eps = 0.2 on data in [0, 1] (about 3 of the 16 grey levels).
PGD_EPS = 0.2


def test_pgd_breaks_undefended_digits_cnn(digits: tuple[Any, Any], digits_eval: Any) -> None:
    model, _ = digits
    x, y = digits_eval
    record, ok, x_adv = evasion.run_named(model, x, y, "pgd",
                                          {"eps": PGD_EPS, "eps_step": PGD_EPS / 4})
    assert record["metrics"]["clean_accuracy"] >= 0.9
    assert record["metrics"]["robust_accuracy"] <= 0.05
    assert np.abs(x_adv - x).max() <= PGD_EPS + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    lo, hi = record["intervals"]["robust_accuracy"]
    assert lo <= record["metrics"]["robust_accuracy"] <= hi


def test_numbers_equal_art_called_directly(digits: tuple[Any, Any], digits_eval: Any) -> None:
    """Same estimator, parameters and seeds (ART called per 128-sample block, each block
    seeded as `randomness` documents): identical adversarial examples and accuracy."""
    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    from dii_hpc.audit.core import randomness

    model, _ = digits
    x, y = digits_eval
    params = {"eps": 0.1, "eps_step": 0.025, "max_iter": 10, "num_random_init": 1}
    record, _, ours = evasion.run_named(model, x, y, "pgd", params, seed=7)

    clf = PyTorchClassifier(model=model.module, loss=torch.nn.CrossEntropyLoss(),
                            input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0))
    attack = ProjectedGradientDescent(clf, norm=np.inf, batch_size=128, verbose=False, **params)
    parts = []
    for b, lo in enumerate(range(0, len(x), 128)):
        np.random.seed(randomness.derive(7, "pgd", b))
        torch.manual_seed(randomness.derive(7, "pgd", b))
        parts.append(attack.generate(x=x[lo:lo + 128], y=y[lo:lo + 128]))
    theirs = np.concatenate(parts)
    assert record["seeds"] == [randomness.derive(7, "pgd", b) for b in range(len(parts))]
    direct = float((clf.predict(theirs).argmax(1) == y).mean())
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    assert record["metrics"]["robust_accuracy"] == direct


def test_numpy_adapter_runs_art_on_sklearn() -> None:
    """A scikit-learn model with analytic gradients goes through the custom ART estimator."""
    from dii_hpc.examples.tabular import breast_cancer_data, breast_cancer_sklearn

    model = breast_cancer_sklearn()
    x, y = breast_cancer_data().get_test_data()
    x = x.astype(np.float64)
    g = model.get_grad(x[:5], y[:5])
    h = 1e-5
    e = np.zeros_like(x[:5])
    e[:, 4] = h
    numeric = (model.get_loss(x[:5] + e, y[:5]) - model.get_loss(x[:5] - e, y[:5])) / (2 * h)
    np.testing.assert_allclose(g[:, 4], numeric, rtol=1e-3, atol=1e-6)
    for name in ("fgsm", "deepfool"):
        record, _, _ = evasion.run_named(model, x, y, name)
        assert record["metrics"]["robust_accuracy"] < record["metrics"]["clean_accuracy"]


def test_regressor_error_grows_under_fgsm(demo_cache: Path) -> None:
    from dii_hpc.examples.tabular import diabetes_data, diabetes_model

    model = diabetes_model()
    x, y = diabetes_data().get_test_data()
    record, _, _ = evasion.run_named(model, x, y, "fgsm")
    m = record["metrics"]
    assert m["adv_mae"] > m["clean_mae"] and m["mae_increase"] > 0
    with pytest.raises(BadInput, match="needs a classifier"):
        evasion.run_named(model, x, y, "deepfool")


def test_eps_outside_data_range_is_refused(digits: tuple[Any, Any], digits_eval: Any) -> None:
    model, _ = digits
    with pytest.raises(BadInput, match=r"eps=1.5 is outside \(0, 1\]"):
        evasion.run_named(model, *digits_eval, "pgd", {"eps": 1.5})
    with pytest.raises(BadInput, match="eps=-0.1"):
        evasion.run_named(model, *digits_eval, "fgsm", {"eps": -0.1})


def test_level_one_suite_extended_result(digits: tuple[Any, Any], digits_eval: Any,
                                         tmp_path: Path) -> None:
    from dii_hpc.audit.evasion import suite as evasion_suite

    model, _ = digits
    x, y = digits_eval
    out = evasion_suite.run_suite(model, x[:60], y[:60], attacks=["fgsm", "pgd", "square"],
                                  examples_dir=str(tmp_path))
    m = out["metrics"]
    per_attack = {r["name"]: r["metrics"]["robust_accuracy"] for r in out["attacks"]}
    assert m["robust_accuracy"] <= min(per_attack.values())  # worst case per sample
    assert out["grade"] in tuple("ABCDE")
    lo, hi = m["robust_accuracy_interval"]
    assert lo <= m["robust_accuracy"] <= hi
    accs = [p["robust_accuracy"] for p in out["curves"]["robustness"]]
    assert accs[-1] < accs[0]
    flags = {f["flag"]: f["ok"] for f in out["sanity"]}
    assert flags["zero_gradients"] and flags["clean_accuracy_too_low"]
    assert "black_box_beats_white_box" in flags
    assert out["examples"] and all((tmp_path / n).is_file() for n in out["examples"])


@pytest.mark.slow
def test_interrupted_suite_resumes_at_shard_level(digits: tuple[Any, Any], digits_eval: Any,
                                                  tmp_path: Path) -> None:
    """A suite that died after its first attack reruns only the missing shards."""
    from dii_hpc.audit.core.checkpoint import Checkpoint
    from dii_hpc.audit.evasion import suite as evasion_suite

    model, _ = digits
    x, y = digits_eval[0][:40], digits_eval[1][:40]
    ck = Checkpoint(tmp_path / "ck")
    calls: list[str] = []

    def counting(attack: Any, xs: Any, ys: Any, seed: int, label: str) -> Any:
        calls.append(label)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the job is killed during the second shard
        return evasion.generate(attack, xs, ys, seed, label)

    with pytest.raises(KeyboardInterrupt):
        evasion_suite.run_suite(model, x, y, attacks=["fgsm", "pgd"], generator=counting, ck=ck)
    assert ck.done() == ["attack-fgsm"]
    calls.clear()
    resumed = evasion_suite.run_suite(model, x, y, attacks=["fgsm", "pgd"],
                                      generator=evasion.generate, ck=ck)
    fresh = evasion_suite.run_suite(model, x, y, attacks=["fgsm", "pgd"])
    assert resumed["metrics"] == fresh["metrics"]
    assert resumed["curves"] == fresh["curves"]


def test_the_suite_sentence_names_the_linf_attacks_it_took_the_worst_of() -> None:
    """#14 "smaller": the summary called the Linf-only worst case "the bounded attacks" (L2
    PGD is bounded too, and not in it)."""
    from dii_hpc.audit.evasion.suite import WORST_CASE, _sentence
    from dii_hpc.audit.model.protocols import Task

    text = _sentence(Task.IMAGE_CLASSIFICATION, {"clean_accuracy": 0.9, "robust_accuracy": 0.3},
                     "C", WORST_CASE)
    assert "bounded" not in text and "the worst of the Linf attacks fgsm, pgd, apgd, square" in text
