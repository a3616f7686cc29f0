"""Evasion on the ART engine: parameters, ART attack objects, blocked generation, the run.

`run_art` is the run of every ART record of the catalogue (`evasion.catalogue`): the record's
defaults scaled to the data, then the user's ``--param`` (checked: numbers, norm, budget),
generation under the audit's seeds (`core.randomness`: any sharding gives the same numbers),
then the scores (`evasion.score`). Generation is separate from scoring so that MPI ranks and
sample shards can generate their blocks and one process scores. Detectors and segmenters
are attacked through `evasion.vision`. `run_named` runs any catalogue attack by name (tests,
suites).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc import progress
from dii_hpc.audit.core import randomness
from dii_hpc.audit.evasion.construct import build, jsonable, parse_norm
from dii_hpc.audit.model.protocols import Predictor
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.core.data import Generator
    from dii_hpc.audit.specs import AttackSpec, Call, Outcome


def attack_params(spec: AttackSpec, model: Predictor, overrides: Mapping[str, Any] | None,
                  native: bool) -> dict[str, Any]:
    """The full parameter set: the record's defaults scaled to the data, then the user's
    overrides (numbers checked, norm parsed, the budget inside the data's range)."""
    from dii_hpc.audit.model.validate import check_budget
    from dii_hpc.audit.specs import check, shape_of

    check(spec, model)
    shape = shape_of(model, native)
    defaults = spec.defaults(shape)
    params = {**defaults, **check_numbers(spec.name, defaults, dict(overrides or {}))}
    if "norm" in params:
        params["norm"] = parse_norm(params["norm"])
    check_budget(params, model.clip_values, shape.features, spec.name)
    return params


def check_numbers(name: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with numbers where the default is a number (YAML reads ``1e-2`` as text);
    one that is no number (``-p eps=abc``) is one line now, not a TypeError deep inside ART.
    ``norm`` and the budgets (fractions such as 8/255) have their own parsers (`parse_norm`,
    `validate.parse_eps`)."""
    from dii_hpc.audit.model.validate import BUDGETS

    out = dict(overrides)
    for key, value in overrides.items():
        default = defaults.get(key)
        if key == "norm" or key in BUDGETS or isinstance(default, bool) or \
                not isinstance(default, (int, float)):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        try:
            out[key] = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            out[key] = None
        if out[key] is None:
            raise BadInput(f"attack {name}: {key}={value!r} is not a number")
    return out


def generate(attack: Any, x: np.ndarray, y: np.ndarray, seed: int, label: str,
             ids: list[int] | None = None) -> np.ndarray:
    """x_adv for (x, y), block by block under seeds derived from (seed, label, block) so
    that any sharding gives the same numbers (`randomness`); `ids` picks a shard's blocks.
    ART errors raised at generate time also become BadInput."""
    def call(xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
        return attack.generate(x=xb, y=yb)

    try:
        return randomness.generate_blocks(call, x, y, seed, label, ids).astype(np.float32)
    except (ValueError, TypeError) as err:
        raise BadInput(f"attack {label}: ART failed: {str(err).splitlines()[0]}") from err


def generate_shown(attack: Any, x: np.ndarray, y: np.ndarray, seed: int, label: str, *,
                   generator: Any = None, batch: int | None = None) -> np.ndarray:
    """`generate` (or ``generator``) under a progress bar of samples.

    With ``batch`` (an attack that treats every sample on its own: a deterministic one) and a
    bar on screen, ART is called once per ``batch`` samples so that the bar moves per batch;
    the adversarial examples are the same as from one call.
    """
    gen = generator or generate
    with progress.bar(f"{label}: samples", len(x)) as bar:
        if generator is not None or not batch or not bar.shown or len(x) <= batch:
            x_adv = gen(attack, x, y, seed, label)
            bar.advance(len(x))
            return x_adv
        parts = []
        for lo in range(0, len(x), batch):
            parts.append(generate(attack, x[lo:lo + batch], y[lo:lo + batch], seed, label))
            bar.advance(len(parts[-1]))
        return np.concatenate(parts)


def run_art(spec: AttackSpec, call: Call) -> Outcome:
    """The run of an ART catalogue record: one attack on the job's evaluation sample."""
    from dii_hpc.audit.evasion.score import score
    from dii_hpc.audit.model.adapter import estimator_for
    from dii_hpc.audit.specs import Outcome

    if call.prep.task.is_vision:
        from dii_hpc.audit.evasion import vision

        return vision.run(spec, call)
    model, x, y, seed = call.model, call.prep.x, call.prep.y, call.seed
    native = callable(getattr(model, "art_estimator", None))
    params = attack_params(spec, model, call.params, native)
    estimator = estimator_for(model, native=bool(spec.options.get("native", True)))
    attack = build(spec.options["art_class"], estimator, params, spec.name)
    batch = int(params.get("batch_size") or 0) if spec.options.get("deterministic") else None
    t0 = time.perf_counter()
    x_adv = generate_shown(attack, x, y, seed, spec.name, generator=call.generator, batch=batch)
    elapsed = time.perf_counter() - t0
    metrics, intervals, ok = score(model, x, y, x_adv)
    record = {"name": spec.name, "params": jsonable(params), "metrics": metrics,
              "intervals": intervals, "time_s": elapsed, "box": spec.box,
              "seeds": randomness.block_seeds(seed, spec.name, len(x)), "engine": spec.engine}
    return Outcome(record, len(x), ok=ok, x_adv=x_adv)


def run_named(model: Predictor, x: np.ndarray, y: Any, name: str,
              overrides: dict[str, Any] | None = None, seed: int = 0,
              generator: Generator | None = None, engine: str = "art"
              ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """A catalogue attack on (x, y) -> (attack record, per-sample robust flags, x_adv), on
    ``engine``; ``generator(attack, x, y, seed, label)`` replaces `generate` (MPI ranks,
    sample shards plug in here)."""
    from dii_hpc.audit.core.data import Prepared
    from dii_hpc.audit.specs import Call, attack, check_engine

    spec = attack(name, check_engine(engine))
    out = spec.run(spec, Call(None, Prepared.sample(model, x, y, seed), dict(overrides or {}),
                              generator))
    assert out.ok is not None and out.x_adv is not None, f"{spec.key} scores per sample"
    return out.record, out.ok, out.x_adv
