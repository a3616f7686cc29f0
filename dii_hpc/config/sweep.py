"""Sweep expansion as pure functions: grid x zip x random draws x seeds -> task points.

A sweep key is either a name of `params:` ("lr" means params.lr) or a full dotted path
("models.cnn.params.width").  Every key must exist in the config: a typo would otherwise
launch a sweep that silently changes nothing.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dii_hpc.config import yamlio
from dii_hpc.config.schema import Distribution, Sweep
from dii_hpc.errors import ConfigError


@dataclass(frozen=True)
class SweepPoint:
    """One combination: config key path -> value, plus its seed (None without seeds)."""

    values: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None


def key_path(key: str) -> list[str]:
    """'lr' -> ['params', 'lr']; 'models.cnn.params.width' -> the dotted parts."""
    return key.split(".") if "." in key else ["params", key]


def check_keys(raw: dict[str, Any], sweep: Sweep, source: str = "<dict>",
               lines: dict[yamlio.KeyPath, int] | None = None) -> None:
    """Every swept key must name an existing config entry; the error names the key and line."""
    sections: dict[str, Mapping[str, object]] = {"grid": sweep.grid, "zip": sweep.zip,
                "random.params": sweep.random.params if sweep.random else {},
                "optimize.space": sweep.optimize.space if sweep.optimize else {}}
    for section, keys in sections.items():
        for key in keys:
            node: Any = raw
            for part in key_path(key):
                if not isinstance(node, dict) or part not in node:
                    where_path = ("sweep", *section.split("."), key)
                    line = yamlio.line_of(lines or {}, where_path)
                    where = f"{source}:{line}" if line else source
                    raise ConfigError(
                        f"{where}: sweep.{section}.{key}: "
                        f"{'.'.join(key_path(key))} does not exist in the config"
                    )
                node = node[part]


def _draw(dist: Distribution, rng: random.Random) -> Any:
    if dist.uniform is not None:
        return rng.uniform(*dist.uniform)
    if dist.loguniform is not None:
        lo, hi = dist.loguniform
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if dist.randint is not None:
        return rng.randint(*dist.randint)
    if dist.normal is not None:
        return rng.gauss(*dist.normal)
    return rng.choice(dist.choice or [None])


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product, first key slowest (the order a reader expects)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def zip_points(zipped: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Lists walked together: {a: [1, 2], b: [x, y]} -> [{a:1, b:x}, {a:2, b:y}]."""
    if not zipped:
        return [{}]
    n = len(next(iter(zipped.values())))
    return [{k: v[i] for k, v in zipped.items()} for i in range(n)]


def random_points(sweep: Sweep) -> list[dict[str, Any]]:
    """n draws from the distributions, reproducible from `random.seed`."""
    if sweep.random is None:
        return [{}]
    rng = random.Random(sweep.random.seed)
    return [{k: _draw(d, rng) for k, d in sweep.random.params.items()}
            for _ in range(sweep.random.n)]


def expand(sweep: Sweep) -> list[SweepPoint]:
    """All points: grid x zip x random x seeds (seeds innermost)."""
    seeds: list[int | None] = list(sweep.seeds) or [None]
    out = []
    for g, z, r in itertools.product(grid_points(sweep.grid), zip_points(sweep.zip),
                                     random_points(sweep)):
        for seed in seeds:
            out.append(SweepPoint({**g, **z, **r}, seed))
    return out


def apply_point(raw: dict[str, Any], point: SweepPoint) -> dict[str, Any]:
    """A copy of the raw config with the point's values set (and params.seed when seeded)."""
    out = copy.deepcopy(raw)
    out.pop("sweep", None)
    for key, value in point.values.items():
        node = out
        *parents, last = key_path(key)
        for part in parents:
            node = node[part]
        node[last] = value
    if point.seed is not None:
        out.setdefault("params", {})["seed"] = point.seed
    return out
