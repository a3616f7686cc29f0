"""dp_canary: the one-run audit's p-value and epsilon bound, and the audit end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from dii_hpc.audit import engine
from dii_hpc.audit.job import of
from dii_hpc.audit.privacy import canary

OVERFIT = {"hidden": 256, "epochs": 150, "lr": 3e-3}  # memorises its training set


def test_p_value_without_delta_is_the_binomial_tail() -> None:
    for r, v, eps in ((50, 40, 1.0), (20, 20, 2.5), (10, 3, 0.0)):
        q = math.exp(eps) / (1 + math.exp(eps))
        assert canary.p_value(100, r, v, eps, 0.0) == pytest.approx(binom.sf(v - 1, r, q))
    assert canary.p_value(100, 50, 40, 1.0, 1e-3) > canary.p_value(100, 50, 40, 1.0, 0.0)


def test_epsilon_bound_inverts_the_p_value() -> None:
    """r guesses all right, delta 0: Pr[all right] = q^r, so the 95% bound solves q^r = 0.05."""
    r = 100
    q = 0.05 ** (1 / r)
    assert canary.epsilon_lower_bound(1000, r, r, 0.0) == pytest.approx(math.log(q / (1 - q)),
                                                                         rel=1e-6)
    eps = canary.epsilon_lower_bound(1000, r, 80, 1e-5)
    assert 0 < eps < canary.epsilon_lower_bound(1000, r, 90, 1e-5)
    assert canary.p_value(1000, r, 80, eps, 1e-5) <= 0.05 + 1e-9
    assert canary.epsilon_lower_bound(1000, r, 50, 1e-5) == 0.0  # a coin's score: no bound


def test_canaries_are_mislabelled_held_out_records_inserted_with_probability_half() -> None:
    rng = np.random.default_rng(0)
    train = rng.random((50, 3)), rng.integers(0, 4, 50)
    test = rng.random((400, 3)), rng.integers(0, 4, 400)
    x, y, inserted = canary.canaries(train, test, 4, 300, seed=1)
    assert len(x) == 350 and inserted[:50].all() and 120 < inserted[50:].sum() < 180
    found = [int(np.flatnonzero((test[0] == row).all(1))[0]) for row in x[50:]]
    assert (test[1][found] != y[50:]).all()  # every canary carries a wrong label
    again = canary.canaries(train, test, 4, 300, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, inserted), again, strict=True))


def test_dp_canary_bounds_a_non_private_trainer(store_path: Path, demo_cache: Path) -> None:
    """A recipe that memorises: its canaries give a positive epsilon lower bound."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = engine.compute(of({"model": {"factory": "dii_hpc.examples.tabular:noisy_model",
                                           "params": OVERFIT},
                                 "data": "dii_hpc.examples.tabular:noisy_data", "seed": 0,
                                 "n_samples": 200}, "II", "dp_canary", {"delta": 1e-5}))
    finally:
        torch.set_num_threads(threads)
    m = out["metrics"]
    assert m["n_canaries"] == 180 and m["n_guesses"] == 36
    assert m["epsilon_lower_bound"] > 0.3 and m["correct_guesses"] / m["n_guesses"] > 0.7
    assert "not (" in out["summary"] and out["curves"]["roc"]["axes"] == "log"
    assert out["attacks"][0]["seeds"][0] != out["attacks"][0]["seeds"][1]
