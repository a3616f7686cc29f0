"""RMIA: the vectorised score against its definition written out per record."""

from __future__ import annotations

import numpy as np

from dii_hpc.audit.privacy.reference import models as reference_models
from dii_hpc.audit.privacy.reference import rmia


def test_rmia_score_is_the_share_of_population_it_dominates() -> None:
    rng = np.random.default_rng(3)
    n_models, n = 6, 25
    keep = reference_models.halves(n_models, n, 0)
    target, refs = rng.normal(size=n) - 1, rng.normal(size=(n_models, n)) - 1
    audited = np.array([0, 3, 7, 24])
    for mode in ("online", "offline"):
        got = rmia.scores(target, refs, keep, audited, mode=mode, offline_a=0.3, gamma=1.5)
        p_ref = np.exp(refs)
        if mode == "online":
            marginal = p_ref.mean(0)
        else:
            marginal = 0.65 * np.array([p_ref[~keep[:, j], j].mean() for j in range(n)]) + 0.35
        ratio = np.exp(target) / marginal
        expected = [np.mean(ratio[x] / ratio > 1.5) for x in audited]
        assert np.allclose(got, expected)
