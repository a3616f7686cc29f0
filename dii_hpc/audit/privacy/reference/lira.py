"""LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles"): a
per-example likelihood ratio from Gaussians fitted to reference models' confidences.

The statistic is the paper's scaled logit phi = log(p_y / (1 - p_y)) of the true class,
computed from raw outputs as z_y - logsumexp_{j != y} z_j (exact, no probability that
rounds to 1). For each record, the reference models that trained on it (IN) and those
that did not (OUT) give mu_in, sigma_in, mu_out, sigma_out (mean and population standard
deviation, as Algorithm 1 of the paper), and the target's phi is scored:
- online:  log N(phi; mu_in, sigma_in^2) - log N(phi; mu_out, sigma_out^2)
- offline: log Pr[Z <= phi], Z ~ N(mu_out, sigma_out^2) (the paper's one-sided test,
  1 - Pr[Z > phi]; only OUT models are needed).
Higher = member. "fixed" variance replaces each record's sigma by one global sigma: the
standard deviation of every reference statistic around its own record's mean (pooled, as
tensorflow/privacy's `compute_score_lira(fix_variance=True)`); the paper finds it better
below 64 reference models, which is what `variance: auto` picks. Everything is float64 and
vectorised over records and models (masked sums, no Python loop): see
benchmarks/bench_privacy_reference.py for the scoring time per 10,000 records.
"""

from __future__ import annotations

import numpy as np

MODES = ("online", "offline")
VARIANCES = ("auto", "per_example", "fixed")
FIXED_BELOW = 64  # reference models: below this `auto` uses the global variance (paper)
TINY = 1e-30  # sigma floor: identical reference statistics must not divide by zero


def scaled_logit(outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """phi = log p_y - log(1 - p_y) from raw outputs (N, C) or (M, N, C), in float64."""
    from scipy.special import logsumexp

    z = np.asarray(outputs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    true = np.take_along_axis(z, np.broadcast_to(y[:, None], z.shape[:-1] + (1,)), axis=-1)
    others = z.copy()
    np.put_along_axis(others, np.broadcast_to(y[:, None], z.shape[:-1] + (1,)), -np.inf,
                      axis=-1)
    return true[..., 0] - logsumexp(others, axis=-1)


def gaussians(stats: np.ndarray, keep: np.ndarray,
              fixed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mu_in, sd_in, mu_out, sd_out) per record from reference stats (M, N) and the IN
    mask (M, N); a record with no IN (or OUT) model gets NaN there."""
    stats = np.asarray(stats, dtype=np.float64)
    out = []
    for mask in (keep, ~keep):
        count = mask.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(mask, stats, 0.0).sum(axis=0) / count
            resid = np.where(mask, stats - mean, 0.0)
            var = (resid ** 2).sum(axis=0) / count
            if fixed:
                var = np.full_like(var, (resid ** 2).sum() / max(int(count.sum()), 1))
        out += [mean, np.sqrt(var)]
    return out[0], out[1], out[2], out[3]


def use_fixed(variance: str, n_models: int) -> bool:
    return variance == "fixed" or (variance == "auto" and n_models < FIXED_BELOW)


def scores(target: np.ndarray, stats: np.ndarray, keep: np.ndarray, *,
           mode: str = "online", fixed: bool = True) -> np.ndarray:
    """LiRA scores (higher = member) of the target statistics (N,) given the reference
    statistics (M, N) and which reference model trained on which record (M, N)."""
    from scipy.stats import norm

    target = np.asarray(target, dtype=np.float64)
    mu_in, sd_in, mu_out, sd_out = gaussians(stats, np.asarray(keep, bool), fixed)
    sd_out = np.maximum(sd_out, TINY)
    if mode == "offline":
        return norm.logcdf(target, mu_out, sd_out)
    return (norm.logpdf(target, mu_in, np.maximum(sd_in, TINY))
            - norm.logpdf(target, mu_out, sd_out))
