"""The data-quality rules from two merged profiles (``drift check --sketch``, Slurm, monitors).

A profile has no rows, but what it keeps exactly (counts, missing counts, min and max, the
columns and their kinds) and what it estimates (KLL ranks, frequent items) answer most rules:
missing_share, out_of_range, new_category, schema, type and constant each have a sketch form
here, keyed by the rule's name. The rule's record (`dii_hpc.drift.quality.rule.QUALITY_RULES`)
stays the one source of its order, default threshold and whether it blocks a column; a rule
without a sketch form (``duplicates`` needs rows, a plug-in may too) is not run and is listed
in the section's ``sketch.quality_unchecked``. A detail says "approximately" where an answer
came from a sketch in estimation mode rather than exact counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.quality.rule import result, shown
from dii_hpc.drift.sketch.profile import ColumnSketch, TableSketch
from dii_hpc.records.drift import QualityResult


@dataclass
class Profiles:
    """What every sketch rule sees: both profiles' feature columns, names and shared columns."""

    reference: TableSketch
    current: TableSketch
    ref_name: str
    cur_name: str
    ignore: set[str]
    ref_cols: list[str] = field(default_factory=list)
    cur_cols: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ref_cols = [c for c in self.reference.columns if c not in self.ignore]
        self.cur_cols = [c for c in self.current.columns if c not in self.ignore]
        self.common = [c for c in self.ref_cols if c in self.cur_cols]

    def pair(self, col: str) -> tuple[ColumnSketch, ColumnSketch]:
        return self.reference.columns[col], self.current.columns[col]

    def same_kind(self) -> list[str]:
        """Shared columns whose kind did not change (the ones value rules can judge)."""
        return [c for c in self.common if self.pair(c)[0].kind == self.pair(c)[1].kind]


def _about(approx: bool) -> str:
    return "approximately " if approx else ""


def _missing(p: Profiles, threshold: float) -> list[QualityResult]:
    out = []
    for col in p.common:
        r, c = p.pair(col)
        ref = r.missing / max(1, r.n + r.missing)
        cur = c.missing / max(1, c.n + c.missing)
        gone = cur == 1.0 and ref < 1.0
        out.append(result("missing_share", col, gone or cur - ref > threshold,
                          f"{cur:.1%} missing (reference {ref:.1%}, allowed +{threshold:.1%})"))
    return out


def _outside(col: ColumnSketch, lo: float, hi: float) -> tuple[float, bool]:
    """(share of the column's values outside [lo, hi], whether it is a sketch's estimate)."""
    if col.min >= lo and col.max <= hi:
        return 0.0, False
    if col.values is not None:
        return sum(n for v, n in col.values.items() if v < lo or v > hi) / col.n, False
    below = float(col.sketch.get_rank(lo, False))
    above = 1.0 - float(col.sketch.get_rank(hi, True))
    return below + above, col.sketch.is_estimation_mode()


def _range(p: Profiles, threshold: float) -> list[QualityResult]:
    out = []
    for col in p.same_kind():
        r, c = p.pair(col)
        if r.kind != "numeric" or not r.n or not c.n:
            continue
        share, approx = _outside(c, r.min, r.max)
        out.append(result("out_of_range", col, share > threshold,
                          f"{_about(approx)}{share:.2%} outside the reference's "
                          f"[{r.min:.4g}, {r.max:.4g}] (allowed {threshold:.2%}; current "
                          f"[{c.min:.4g}, {c.max:.4g}])"))
    return out


def _new(p: Profiles, threshold: float) -> list[QualityResult]:
    out = []
    for col in p.same_kind():
        r, c = p.pair(col)
        if r.kind != "categorical":
            continue
        (seen, r_err), (cur, c_err) = r.category_counts(), c.category_counts()
        fresh = {v: n for v, n in cur.items() if v not in seen and not (
            r_err > 0 and c.sketch.get_lower_bound(v) / c.n <= r.sketch.get_upper_bound(v) / r.n)}
        share = sum(fresh.values()) / c.n if c.n else 0.0
        names = sorted(fresh)
        listed = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        approx = r_err > 0 or c_err > 0
        detail = (f"{_about(approx)}{share:.2%} of rows in new categories {listed}" if names
                  else "no new category")
        if approx:
            detail += (" (frequent items: with a reference too varied to list, a category is "
                       "new when the batch holds it more often than the reference can have)")
        out.append(result("new_category", col, share > threshold, detail))
    return out


def _renamed(p: Profiles, col: str, new: list[str]) -> str | None:
    """The new column holding what ``col`` held, by the exact rule's similarity cut-offs."""
    from dii_hpc.drift.quality.rules.schema import SAME_CATEGORIES, SAME_VALUES_KS
    from dii_hpc.drift.sketch.tests import SketchPair, ks

    r = p.reference.columns[col]
    best, score = None, 0.0
    for cand in new:
        c = p.current.columns[cand]
        if c.kind != r.kind or not r.n or not c.n:
            continue
        if r.kind == "numeric":
            s = 1.0 - float(ks(SketchPair("numeric", r, c)).statistic)
        else:
            a, b = set(r.category_counts()[0]), set(c.category_counts()[0])
            s = len(a & b) / len(a | b)
        if s > score:
            best, score = cand, s
    need = 1.0 - SAME_VALUES_KS if r.kind == "numeric" else SAME_CATEGORIES
    return best if score >= need else None


def _schema(p: Profiles, _threshold: float) -> list[QualityResult]:
    from dii_hpc.drift.quality.rules.schema import schema_results

    return schema_results(list(p.ref_cols), list(p.cur_cols),
                          lambda col, new: _renamed(p, col, new), p.ref_name, p.cur_name)


def _first_text(col: ColumnSketch) -> str | None:
    """A frequent value of a categorical column that does not read as a number."""
    for value in col.category_counts()[0]:
        try:
            float(value)
        except (TypeError, ValueError):
            return str(value)
    return None


def _types(p: Profiles, _threshold: float) -> list[QualityResult]:
    out = []
    for col in p.common:
        r, c = p.pair(col)
        if r.kind == c.kind:
            out.append(result("type", col, False, r.kind))
        elif r.kind == "numeric":
            odd = _first_text(c)
            out.append(result("type", col, True, (f"has text {odd!r}" if odd else "has text")
                              + f" where numbers are expected (as in {p.ref_name})"))
        else:
            out.append(result("type", col, True, f"holds numbers where {p.ref_name} has text; "
                              f"give --categorical {col} if both are fine"))
    return out


def _one_value(col: ColumnSketch) -> object | None:
    """The column's only value when it holds one (exact: min == max, or one category)."""
    if col.kind == "numeric":
        return col.min if col.n and col.min == col.max else None
    counts, error = col.category_counts()
    return next(iter(counts)) if len(counts) == 1 and error == 0 else None


def _distinct(col: ColumnSketch) -> int:
    """Distinct values, at least (2 stands for 'several' where a sketch cannot count them)."""
    if col.kind == "categorical":
        return len(col.category_counts()[0])
    if col.values is not None:
        return len(col.values)
    return 1 if col.min == col.max else 2


def _share_of(col: ColumnSketch, value: object) -> tuple[float, bool]:
    """(the reference's share of rows holding ``value``, whether it is a sketch's estimate)."""
    if col.kind == "categorical":
        counts, error = col.category_counts()
        return counts.get(value, 0.0) / col.n, error > 0
    if col.values is not None:
        return col.values.get(float(value), 0) / col.n, False  # type: ignore[arg-type]
    v = float(value)  # type: ignore[arg-type]
    share = float(col.sketch.get_rank(v, True)) - float(col.sketch.get_rank(v, False))
    return share, col.sketch.is_estimation_mode()


def _constant(p: Profiles, threshold: float) -> list[QualityResult]:
    out = []
    for col in p.same_kind():
        r, c = p.pair(col)
        value = _one_value(c)
        if _distinct(r) < 2 or value is None or c.n < 2:
            out.append(result("constant", col, False,
                              "1 distinct value" if value is not None else "several values"))
            continue
        share, approx = _share_of(r, value)
        chance = share ** c.n  # P(every row of the batch takes it | the reference's mix)
        out.append(result("constant", col, chance < threshold,
                          f"one value {shown(value)} in {c.n} rows (reference: "
                          f"{_about(approx)}{share:.1%} of its rows; chance {chance:.2g})"))
    return out


SKETCH_RULES: dict[str, Callable[[Profiles, float], list[QualityResult]]] = {
    "schema": _schema, "type": _types, "missing_share": _missing, "out_of_range": _range,
    "new_category": _new, "constant": _constant}


def run(ref: TableSketch, cur: TableSketch, opt: DriftOptions, ref_name: str,
        cur_name: str) -> tuple[list[QualityResult], list[str], list[str]]:
    """(results in rule order; the shared feature columns no blocking rule failed; the rules
    not run because they have no sketch form), as `dii_hpc.drift.quality.run` for tables."""
    from dii_hpc.drift.quality import checked_names
    from dii_hpc.drift.quality.rule import QUALITY_RULES

    checked_names(opt)
    ignore = set(opt.not_features)
    profiles = Profiles(ref, cur, ref_name, cur_name, ignore)
    results: list[QualityResult] = []
    blocked: set[str] = set()
    unchecked: list[str] = []
    for rule in sorted(QUALITY_RULES.records(), key=lambda r: (r.order, r.name)):
        if rule.name in opt.quality_off:
            continue
        function = SKETCH_RULES.get(rule.name)
        if function is None:
            unchecked.append(rule.name)
            continue
        found = function(profiles, opt.quality.get(rule.name, rule.threshold))
        results += found
        if rule.blocks:
            blocked |= {q.column for q in found if q.status == "fail" and q.column}
    return results, [c for c in profiles.common if c not in blocked], unchecked
