"""Randomized smoothing: Cohen, Rosenfeld and Kolter (2019), CERTIFY.

The smoothed classifier g(x) = argmax_c P(f(x + e) = c), e ~ N(0, sigma^2 I). CERTIFY
draws n0 noisy copies of x to select the top class cA, then n more to estimate its
probability; pA_lower is the one-sided (1 - alpha) Clopper-Pearson lower bound on it. When
pA_lower < 1/2 it abstains (class -1, radius 0), else g is certified constant within the L2
radius sigma * Phi^-1(pA_lower).

Why counts per fixed chunk: an audit number is a function of (config, seed) whatever the
sharding (`core.randomness`). Sample i's noise comes in chunks of `CHUNK` draws, chunk c
under `derive(seed_i, "estimate", c)` (selection: `derive(seed_i, "select", c)`) with
seed_i = `derive(seed, "smoothing", i)`, i the sample's place in the evaluation sample.
Shards own whole samples and whole chunks and keep integer class counts, which add up
exactly: one process, 4 or 16 array tasks give the same counts, hence the same classes and
radii. `batch` only sizes the base classifier's forward passes.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dii_hpc.audit.core import randomness, stats
from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.audit.specs import AttackSpec, Call, Outcome, Shape, shape_of
from dii_hpc.errors import BadInput

CHUNK = 1000  # noise draws per seeded chunk (fixed: shards split on chunk boundaries)
ABSTAIN = -1
RADII = (0.0, 0.25, 0.5, 0.75, 1.0)  # times the data's range
TASKS = ("image_classification", "tabular_classification")


@dataclass(frozen=True)
class Settings:
    """CERTIFY's parameters (sigma and radii in the data's units) and the noise recipe."""

    sigma: float
    n: int
    n0: int
    alpha: float
    batch: int
    radii: tuple[float, ...]
    radius: float  # the suite's grading radius
    train_noise: float | None = None  # retrain with Gaussian noise augmentation (`fit`)
    train_copies: int = 4  # noisy copies of the training set it is retrained on
    noise_shards: int = 1  # array tasks per sample's estimation draws (suite, large n)

    def record(self) -> dict[str, Any]:
        return asdict(self) | {"radii": list(self.radii)}


def defaults(shape: Shape) -> dict[str, Any]:
    """Cohen's CIFAR-10 settings at n = 10,000, sigma and radii scaled to the data's range."""
    return {"sigma": 0.25 * shape.span, "n": 10_000, "n0": 100, "alpha": 0.001,
            "batch": 1000, "radii": [r * shape.span for r in RADII],
            "radius": 0.25 * shape.span, "train_noise": None, "train_copies": 4,
            "noise_shards": 1}


def settings(shape: Shape, params: dict[str, Any]) -> Settings:
    """The user's ``--param`` over the defaults, each checked (one line naming it)."""
    known = defaults(shape)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise BadInput(f"--param {unknown[0]}: smoothing takes {', '.join(known)}")
    raw = {**known, **params}
    noise = raw["train_noise"]
    return Settings(
        sigma=_number(raw, "sigma", 0.0), n=_count(raw, "n"), n0=_count(raw, "n0"),
        alpha=_number(raw, "alpha", 0.0, 0.5), batch=_count(raw, "batch"),
        radii=_radii(raw["radii"]), radius=_number(raw, "radius", 0.0, zero=True),
        train_noise=None if noise in (None, 0, "none") else _number(raw, "train_noise", 0.0),
        train_copies=_count(raw, "train_copies"), noise_shards=_count(raw, "noise_shards"))


def _number(raw: dict[str, Any], key: str, low: float, high: float = math.inf,
            zero: bool = False) -> float:
    """A number in (low, high) ([low, high) with ``zero``), else one line naming the param."""
    value = raw[key]
    try:
        out = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not ((low <= out if zero else low < out) and out < high):
        bounds = f"in {'[' if zero else '('}{low:g}, {high:g})"
        raise BadInput(f"--param {key}={value!r}: must be a number {bounds}")
    return out


def _count(raw: dict[str, Any], key: str) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) \
            or not str(value).isdigit() or int(value) < 1:
        raise BadInput(f"--param {key}={value!r}: must be a positive integer")
    return int(value)


def _radii(value: Any) -> tuple[float, ...]:
    items = value.split(",") if isinstance(value, str) else \
        list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        out = tuple(sorted({float(v) for v in items}))
    except (TypeError, ValueError):
        out = (-1.0,)
    if not out or any(not (math.isfinite(r) and r >= 0) for r in out):
        raise BadInput(f"--param radii={value!r}: expected non-negative numbers, e.g. "
                       "radii=0,0.25,0.5")
    return out


def metric_name(radius: float) -> str:
    """``certified_accuracy@0.25``: what a policy gates and the report reads."""
    return f"certified_accuracy@{radius:g}"


# ---- Monte Carlo counts ------------------------------------------------------------------
def sample_seeds(seed: int, lo: int, hi: int) -> list[int]:
    """The noise seed of samples lo..hi-1 (their places in the evaluation sample)."""
    return [randomness.derive(seed, "smoothing", i) for i in range(lo, hi)]


def chunks(num: int, part: int = 0, parts: int = 1) -> list[int]:
    """The chunk ids of ``num`` draws that noise shard ``part`` of ``parts`` owns."""
    ids = np.array_split(np.arange(math.ceil(num / CHUNK)), parts)
    return [int(c) for c in ids[part]] if part < len(ids) else []


def counts(model: Predictor, x: np.ndarray, sigma: float, num: int, seed: int, stream: str,
           ids: list[int], batch: int, classes: int) -> np.ndarray:
    """Class counts of the base classifier on x + noise, over draws of chunks ``ids``."""
    out = np.zeros(classes, dtype=np.int64)
    for c in ids:
        m = min(CHUNK, num - c * CHUNK)
        rng = np.random.default_rng(randomness.derive(seed, stream, c))
        noisy = x[None].astype(np.float32) + sigma * rng.standard_normal(
            (m, *x.shape), dtype=np.float32)
        for lo in range(0, m, batch):
            top = np.argmax(np.asarray(model.predict(noisy[lo:lo + batch])), axis=1)
            out += np.bincount(top, minlength=classes)[:classes]
    return out


def tally(model: Predictor, x: np.ndarray, seed: int, s: Settings, lo: int, hi: int,
          part: int = 0, parts: int = 1) -> dict[str, np.ndarray]:
    """Samples lo..hi-1, noise shard ``part`` of ``parts``: their estimation counts; the
    first noise shard also the selection counts and the base classifier's clean class."""
    classes = n_classes(model)
    seeds = sample_seeds(seed, lo, hi)
    est = [counts(model, x[i], s.sigma, s.n, seeds[i - lo], "estimate",
                  chunks(s.n, part, parts), s.batch, classes) for i in range(lo, hi)]
    out = {"est": np.asarray(est, np.int64).reshape(hi - lo, classes)}
    if part == 0:
        sel = [counts(model, x[i], s.sigma, s.n0, seeds[i - lo], "select", chunks(s.n0),
                      s.batch, classes) for i in range(lo, hi)]
        out["sel"] = np.asarray(sel, np.int64).reshape(hi - lo, classes)
        base = np.argmax(np.asarray(model.predict(x[lo:hi])), axis=1) if hi > lo else []
        out["base"] = np.asarray(base, np.int64)
    return out


def n_classes(model: Predictor) -> int:
    nb = getattr(model, "nb_classes", None)
    if not nb:
        raise BadInput(f"model {type(model).__name__} lacks attribute `nb_classes` "
                       "(smoothing counts the base classifier's classes)")
    return int(nb)


# ---- CERTIFY's decision ------------------------------------------------------------------
def lower_bound(successes: int, n: int, alpha: float) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound: the two-sided 1 - 2 alpha one's."""
    return stats.clopper_pearson(successes, n, 2 * alpha)[0]


def certify(sel: np.ndarray, est: np.ndarray, s: Settings
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, radius, p_lower, nA) per sample from its selection and estimation counts."""
    from scipy.stats import norm

    top = np.argmax(sel, axis=1) if len(sel) else np.zeros(0, np.int64)
    n_a = est[np.arange(len(est)), top] if len(est) else np.zeros(0, np.int64)
    p_lower = np.array([lower_bound(int(k), s.n, s.alpha) for k in n_a], dtype=np.float64)
    certified = p_lower >= 0.5
    radius = np.where(certified, s.sigma * norm.ppf(np.clip(p_lower, 0.5, 1.0)), 0.0)
    return np.where(certified, top, ABSTAIN), radius, p_lower, n_a


def summary(y: np.ndarray, parts: dict[str, np.ndarray], s: Settings
            ) -> tuple[dict[str, Any], dict[str, list[float]], list[dict[str, float]],
                       dict[str, list[Any]]]:
    """(metrics, intervals, the certified-accuracy curve, the samples section)."""
    pred, radius, p_lower, n_a = certify(parts["sel"], parts["est"], s)
    correct = pred == np.asarray(y)
    metrics: dict[str, Any] = {}
    intervals: dict[str, list[float]] = {}
    curve: list[dict[str, float]] = []
    for r in s.radii:
        flags = correct & (radius >= r)
        metrics[metric_name(r)] = float(flags.mean()) if len(flags) else 0.0
        intervals[metric_name(r)] = stats.rate_interval(flags)
        curve.append({"radius": r, "certified_accuracy": metrics[metric_name(r)]})
    at = correct & (radius >= s.radius)
    metrics["certified_accuracy"] = float(at.mean()) if len(at) else 0.0
    intervals["certified_accuracy"] = stats.rate_interval(at)
    smoothed = np.argmax(parts["est"], axis=1) == y if len(y) else np.zeros(0, bool)
    metrics |= {"abstain_rate": float((pred == ABSTAIN).mean()) if len(y) else 0.0,
                "clean_accuracy": float(smoothed.mean()) if len(y) else 0.0,
                "base_accuracy": float((parts["base"] == y).mean()) if len(y) else 0.0,
                "mean_radius": float(np.where(correct, radius, 0.0).mean()) if len(y) else 0.0}
    samples: dict[str, list[Any]] = {"index": list(range(len(y))), "label": [int(v) for v in y],
               "prediction": [int(v) for v in pred], "radius": [float(v) for v in radius],
               "p_lower": [float(v) for v in p_lower], "count": [int(v) for v in n_a],
               "correct": [bool(v) for v in correct]}
    return metrics, intervals, curve, samples


def sanity(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Signs the certificate says little: the noise drowns the classifier."""
    return [{"flag": "smoothed_accuracy_too_low",
             "ok": metrics["clean_accuracy"] >= 0.5 * metrics["base_accuracy"],
             "detail": f"smoothed classifier {metrics['clean_accuracy']:.3f} vs base "
                       f"{metrics['base_accuracy']:.3f} on clean inputs (sigma too large, or "
                       "a model not trained with noise: train_noise)"},
            {"flag": "abstain_rate_high", "ok": metrics["abstain_rate"] <= 0.5,
             "detail": f"{metrics['abstain_rate']:.1%} of samples abstained"}]


def outcome(y: np.ndarray, parts: dict[str, np.ndarray], s: Settings, seed: int,
            time_s: float, trained: dict[str, Any] | None) -> Outcome:
    """The attack's record and result pieces from the counts of every sample."""
    metrics, intervals, curve, samples = summary(y, parts, s)
    params = s.record()
    record = {"name": "smoothing", "params": params, "metrics": metrics,
              "intervals": intervals, "time_s": time_s,
              "seeds": sample_seeds(seed, 0, len(y))}
    if trained:
        record["train_noise"] = trained
    line = (f"smoothing (sigma {s.sigma:g}, n {s.n}): certified accuracy "
            f"{metrics['certified_accuracy']:.1%} at L2 radius {s.radius:g}, abstained on "
            f"{metrics['abstain_rate']:.1%}, smoothed clean accuracy "
            f"{metrics['clean_accuracy']:.1%}.")
    return Outcome(record, len(y), curves={"certified_accuracy": curve},
                   sanity=sanity(metrics), summary=line, params=params,
                   extra={"samples": samples})


def _run(spec: AttackSpec, call: Call) -> Outcome:
    """Level II: every sample in this process (its model noise-trained first if asked)."""
    from dii_hpc.audit.certification import noise_training

    s = settings(shape_of(call.model), dict(call.params))
    t0 = time.perf_counter()
    model, trained = noise_training.model_for(call.prep, s)
    parts = tally(model, call.prep.x, call.seed, s, 0, len(call.prep.x))
    return outcome(np.asarray(call.prep.y), parts, s, call.seed, time.perf_counter() - t0,
                   trained)


SMOOTHING = AttackSpec(
    "smoothing", "certification", "art", TASKS, Predictor, _run,
    "randomized smoothing (Cohen et al. 2019, CERTIFY): per sample the smoothed class or "
    "abstain and its certified L2 radius", defaults, on_device=True)
