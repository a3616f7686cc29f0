"""Runs that differ only by seed, shown as one group: mean +- sd of each metric's last value
in a table, and the mean curve with a 95 % confidence band of the mean on a chart.

A display choice, like the "best run" star: nothing here is stored, and the grouping rule is
printed on the page. A param is a seed when its name is ``seed`` or ends in ``_seed`` /
``.seed``; runs whose other params are all equal form a group once it has two or more
members. Archived runs take no part. The band is mean +- t(0.975, n-1) * sd / sqrt(n) at
each step that every member of the group logged, over every member's curve (as the data files
hold it, see data.py).

At scale: past ``MAX_GROUPS`` groups the page keeps the ones with the best mean of the
primary metric and says how many there were; a group of many seeds shows their count and
range, never hundreds of numbers in one cell.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from dii_hpc.report.source import RunEntry

SEED = re.compile(r"(^|[._])seed$", re.IGNORECASE)
MAX_GROUPS = 20
SEEDS_LISTED = 8


def is_archived(run: RunEntry) -> bool:
    return bool(run.record.get("archived"))


def _same(value: Any) -> str:
    """Equal values give equal text (nested mappings whatever their key order)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


def seed_groups(runs: list[RunEntry]) -> list[list[RunEntry]]:
    """Groups (oldest run first) of two or more runs equal in every param but their seeds."""
    by_key: dict[str, list[RunEntry]] = {}
    for run in runs:
        params = run.record.get("params") or {}
        if is_archived(run) or not any(SEED.search(k) for k in params):
            continue
        rest = {k: v for k, v in params.items() if not SEED.search(k)}
        key = repr((run.kind, sorted((k, _same(v)) for k, v in rest.items())))
        by_key.setdefault(key, []).append(run)
    groups = [g for g in by_key.values() if len(g) > 1]
    groups.sort(key=lambda g: (g[0].start, g[0].run_id))
    return groups


def _label(group: list[RunEntry], varying: list[str]) -> str:
    params = group[0].record.get("params") or {}
    parts = [f"{k}={params.get(k)}" for k in varying if k in params]
    return ", ".join(parts) or "all other params equal"


def _varying(groups: list[list[RunEntry]]) -> list[str]:
    """The non-seed params whose values differ between groups (what tells groups apart)."""
    seen: dict[str, set[str]] = {}
    for group in groups:
        for k, v in (group[0].record.get("params") or {}).items():
            if not SEED.search(k):
                seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    return sorted(k for k, vals in seen.items() if len(vals) > 1)


def mean_sd(values: list[Any]) -> tuple[float | None, float | None]:
    """Mean and sample sd of the finite numbers among ``values`` (runs may lack a metric)."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return None, None
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))


def _t975(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def band(curves: list[list[list[Any]]]) -> list[list[float]] | None:
    """[steps, mean, lo, hi] over the steps every curve has; None when fewer than 2 curves."""
    if len(curves) < 2:
        return None
    points = [dict(zip(c[0], c[1], strict=False)) for c in curves]
    steps = sorted(set.intersection(*(set(p) for p in points)))
    out: list[list[float]] = [[], [], [], []]
    t = _t975(len(curves))
    for step in steps:
        mean, sd = mean_sd([p[step] for p in points if p[step] is not None])
        if mean is None or sd is None:
            continue
        half = t * sd / math.sqrt(len(curves))
        for column, value in zip(out, (step, mean, mean - half, mean + half), strict=True):
            column.append(float(f"{value:.5g}"))
    return out if out[0] else None


def seeds_text(values: list[Any]) -> str:
    """The seeds of a group for its table cell: all of them when few, else count and range."""
    if len(values) <= SEEDS_LISTED:
        return ", ".join(str(v) for v in values)
    ints = sorted(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    if len(ints) == len(values):
        whole = ints == list(range(ints[0], ints[0] + len(ints)))
        return f"{len(values)} seeds, {ints[0]}" + ("–" if whole else " … ") + str(ints[-1])
    return f"{len(values)} seeds: " + ", ".join(str(v) for v in values[:3]) + ", …"


def _shown(groups: list[list[RunEntry]], primary: str | None) -> list[list[RunEntry]]:
    """All groups, or the ``MAX_GROUPS`` with the best mean of ``primary`` (start order kept)."""
    if len(groups) <= MAX_GROUPS:
        return groups
    from dii_hpc.report.display import lower_is_better

    def score(group: list[RunEntry]) -> float:
        mean = mean_sd([((r.record.get("metrics") or {}).get(primary or "") or {}).get("last")
                        for r in group])[0]
        if mean is None:
            return math.inf
        return mean if lower_is_better(primary or "") else -mean

    keep = {id(g) for g in sorted(groups, key=score)[:MAX_GROUPS]}
    return [g for g in groups if id(g) in keep]


def members(runs: list[RunEntry], primary: str | None) -> set[str]:
    """The runs of the groups the page shows (their curves make the bands)."""
    return {r.run_id for g in _shown(seed_groups(runs), primary) for r in g}


def _note(groups: list[list[RunEntry]], shown: list[list[RunEntry]], primary: str | None) -> str:
    if len(shown) == len(groups):
        return ""
    return (f"{len(groups):,} groups; shown: the {len(shown)} with the best mean "
            f"{primary or 'value'} ({sum(len(g) for g in shown):,} of "
            f"{sum(len(g) for g in groups):,} grouped runs).")


def groups_context(runs: list[RunEntry], metric_keys: list[str],
                   curves: dict[str, dict[str, list]], primary: str | None = None) -> dict[str, Any]:
    """``seed_groups`` rows for the table, ``groups_data`` entries for the band chart and the
    ``note`` the page prints when it shows only some groups.  ``curves``: run id -> curves
    encoded as in data.py."""
    from dii_hpc.report.data import decode_curve

    everything = seed_groups(runs)
    groups = _shown(everything, primary)
    varying = _varying(groups)
    rows, data = [], []
    for i, group in enumerate(groups):
        gid = f"g{i}"
        stats = {}
        for key in metric_keys:
            last = [((r.record.get("metrics") or {}).get(key) or {}).get("last") for r in group]
            stats[key] = mean_sd(last)
        seeds = [v for r in group for k, v in (r.record.get("params") or {}).items()
                 if SEED.search(k)]
        label = _label(group, varying)
        rows.append({"id": gid, "label": label, "n": len(group), "stats": stats,
                     "seeds": seeds_text(seeds), "runs": [r.run_id for r in group]})
        decoded = [{k: decode_curve(c) for k, c in curves.get(r.run_id, {}).items()}
                   for r in group]
        bands = {}
        for key in sorted({k for d in decoded for k in d}):
            got = band([list(d[key]) for d in decoded if key in d])
            if got:
                bands[key] = got
        data.append({"id": gid, "label": label, "n": len(group), "curves": bands})
    return {"seed_groups": rows, "groups_data": data,
            "note": _note(everything, groups, primary)}
