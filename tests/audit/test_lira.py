"""LiRA: the vectorised score against the paper's formula written out per record; on a
deliberately overfit model it beats the loss threshold at low FPR, on a regularised one
both fall; with no real members its TPR stays at the FPR."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Tiny recipes (under a second a model): memorises its training set vs does not.
from dii_hpc.audit.privacy.reference import attacks as reference_attacks
from dii_hpc.audit.privacy.reference import lira

OVERFIT = {"hidden": 128, "epochs": 150, "lr": 3e-3, "batch_size": 128}
REGULARISED = {"hidden": 64, "epochs": 20, "weight_decay": 1e-2, "batch_size": 512}
SPEC = "dii_hpc.examples.tabular:noisy_model"


def _pdf(x: float, mu: float, var: float) -> float:
    return math.exp(-(x - mu) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)


def _paper(phi: float, conf_in: list[float], conf_out: list[float]) -> tuple[float, float]:
    """Algorithm 1 of Carlini et al. 2022 for one record: online Lambda = p(phi | N_in) /
    p(phi | N_out); offline Lambda = 1 - Pr[Z > phi], Z ~ N(mu_out, sigma_out^2)."""
    mu_in, mu_out = sum(conf_in) / len(conf_in), sum(conf_out) / len(conf_out)
    var_in = sum((c - mu_in) ** 2 for c in conf_in) / len(conf_in)
    var_out = sum((c - mu_out) ** 2 for c in conf_out) / len(conf_out)
    online = _pdf(phi, mu_in, var_in) / _pdf(phi, mu_out, var_out)
    z = (phi - mu_out) / math.sqrt(var_out)
    offline = 1 - 0.5 * math.erfc(z / math.sqrt(2))
    return online, offline


def test_per_example_score_equals_the_papers_formula() -> None:
    rng = np.random.default_rng(0)
    n_models, n_records = 16, 40
    keep = np.random.default_rng(1).random((n_models, n_records)) < 0.5
    keep[0], keep[1] = True, False  # every record has IN and OUT models
    stats = rng.normal(size=(n_models, n_records)) + 2.0 * keep
    target = rng.normal(size=n_records) + 1.0
    online = lira.scores(target, stats, keep, mode="online", fixed=False)
    offline = lira.scores(target, stats, keep, mode="offline", fixed=False)
    for j in range(n_records):
        conf_in = [float(stats[m, j]) for m in range(n_models) if keep[m, j]]
        conf_out = [float(stats[m, j]) for m in range(n_models) if not keep[m, j]]
        lam_online, lam_offline = _paper(float(target[j]), conf_in, conf_out)
        assert online[j] == pytest.approx(math.log(lam_online), rel=1e-9, abs=1e-9)
        assert offline[j] == pytest.approx(math.log(lam_offline), rel=1e-9, abs=1e-12)


def test_fixed_variance_is_one_pooled_sigma_per_side() -> None:
    rng = np.random.default_rng(2)
    keep = rng.random((8, 30)) < 0.5
    keep[0], keep[1] = True, False
    stats = rng.normal(size=(8, 30)) * (1 + np.arange(30))  # per-record spread differs
    _, sd_in, _, sd_out = lira.gaussians(stats, keep, fixed=True)
    resid_in = [stats[m, j] - stats[keep[:, j], j].mean() for j in range(30) for m in range(8)
                if keep[m, j]]
    assert np.allclose(sd_in, math.sqrt(sum(r * r for r in resid_in) / len(resid_in)))
    assert np.ptp(sd_out) == 0 and lira.use_fixed("auto", 63) and not lira.use_fixed("auto", 64)


def test_scaled_logit_is_log_odds_of_the_true_class() -> None:
    z = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [40.0, -3.0, 1.0]])
    y = np.array([0, 2, 0])
    p = np.exp(z[:2]) / np.exp(z[:2]).sum(1, keepdims=True)
    direct = np.log(p[np.arange(2), y[:2]]) - np.log1p(-p[np.arange(2), y[:2]])
    assert np.allclose(lira.scaled_logit(z, y)[:2], direct)
    assert lira.scaled_logit(z, y)[2] > 35  # finite where 1 - p rounds to 0
    assert lira.scaled_logit(np.stack([z, z]), y).shape == (2, 3)


@pytest.fixture(scope="module")
def ref_store(tmp_path_factory: pytest.TempPathFactory, demo_cache: Path) -> Any:
    """One store for the module (LiRA and RMIA of one target share their reference models);
    torch on one thread: two threads on a shared 2-core host make a tiny MLP 10x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DII_HPC_STORE", str(tmp_path_factory.mktemp("ref") / "store"))
        yield
    torch.set_num_threads(threads)


def _attack(name: str, params: dict[str, Any], model: Any, data: Any, n_ref: int = 8,
            spec: Any = None) -> dict[str, Any]:
    return reference_attacks.attack_record(name, {"n_reference": n_ref, **params}, model,
                                           data.get_train_data(), data.get_test_data(), 200, 0,
                                           spec)


def test_lira_beats_the_loss_attack_on_an_overfit_model_and_both_fall_when_regularised(
        ref_store: Any) -> None:
    from dii_hpc.examples.tabular import noisy_data, noisy_model

    data, out = noisy_data(), {}
    for key, recipe in (("overfit", OVERFIT), ("regularised", REGULARISED)):
        spec = {"factory": SPEC, "params": recipe}
        out[key] = _attack("lira", {}, noisy_model(**recipe), data, spec=spec)["metrics"]
    over, reg = out["overfit"], out["regularised"]
    assert over["tpr_at_1pct_fpr"] > over["baseline_tpr_at_1pct_fpr"]
    assert over["auc"] >= over["baseline_auc"]
    assert reg["auc"] < over["auc"] and reg["baseline_auc"] < over["baseline_auc"]
    assert reg["tpr_at_1pct_fpr"] < over["tpr_at_1pct_fpr"]


def test_every_variant_scores_and_records_the_exposed_members(ref_store: Any) -> None:
    from dii_hpc.examples.tabular import noisy_data, noisy_model

    data, spec = noisy_data(), {"factory": SPEC, "params": OVERFIT}
    model = noisy_model(**OVERFIT)
    keys = set()
    for name, params in (("lira", {"mode": "offline"}), ("lira", {"variance": "per_example"}),
                         ("rmia", {}), ("rmia", {"mode": "offline"})):
        rec = _attack(name, params, model, data, spec=spec)
        keys.add(tuple(rec["reference_models"]["keys"]))  # one set of models serves them all
        assert rec["metrics"]["auc"] > 0.6, (name, params)
        top = rec["exposed"]
        assert len(top) == 10 and [r["score"] for r in top] == sorted(
            (r["score"] for r in top), reverse=True)
        x_train, y_train = data.get_train_data()
        assert all(0 <= r["index"] < len(x_train) and r["class"] == y_train[r["index"]]
                   for r in top)
    assert len(keys) == 1


def test_with_no_real_members_tpr_stays_within_its_interval_of_the_fpr(ref_store: Any) -> None:
    """The target never saw any audited record (trained on the held-out split; the audit
    calls half of the train split members): at every FPR the TPR is not above it."""
    from dii_hpc.examples.tabular import noisy_data, noisy_model

    data = noisy_data()
    target = noisy_model(**OVERFIT)
    target.fit(*data.get_test_data())  # the same recipe on other records
    x, y = data.get_train_data()
    fake = (x[:210], y[:210]), (x[210:], y[210:])
    spec = {"factory": SPEC, "params": OVERFIT}
    for name in ("lira", "rmia"):
        rec = reference_attacks.attack_record(name, {"n_reference": 8}, target, *fake, 210, 0,
                                              spec)
        assert rec["metrics"]["n_members"] == rec["metrics"]["n_non_members"] == 210
        for key, point in rec["low_fpr"].items():
            lo, hi = point["tpr_interval"]
            assert lo <= point["fpr_interval"][1] and point["fpr"] <= hi, (name, key, point)
            assert point["fpr"] <= point["target_fpr"] + 1e-12
        assert abs(rec["metrics"]["auc"] - 0.5) < 0.1
