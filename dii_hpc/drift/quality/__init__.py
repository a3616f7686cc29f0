"""Data quality beside drift: every rule of `rule.QUALITY_RULES` on the batch vs the reference.

`compare` is what a table check calls instead of `drift.compare.compare_frames`: the rules run
first (a schema or type change, a column gone missing is a rule's failure, exit 1, not bad
input), the drift tests then compare the columns the blocking rules left. A rule's threshold
is the options' ``quality: {rule: X}``, else the record's; ``quality_off`` skips rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.drift.options import DriftOptions
    from dii_hpc.records.drift import DriftSection, QualityResult


def checked_names(opt: DriftOptions) -> None:
    """Refuse a rule named in ``quality`` / ``quality_off`` that is not installed."""
    from dii_hpc.drift.quality.rule import QUALITY_RULES

    for name in [*opt.quality, *opt.quality_off]:
        if name not in QUALITY_RULES:
            raise BadInput(f"quality rule {name!r}: no such rule (choose from "
                           f"{', '.join(QUALITY_RULES.names())})")


def run(ref: Any, cur: Any, opt: DriftOptions, ref_name: str = "reference",
        cur_name: str = "current") -> tuple[list[QualityResult], list[str]]:
    """(results of every rule, in rule order; the shared columns no blocking rule failed)."""
    from dii_hpc.drift.quality.rule import QUALITY_RULES, Tables

    checked_names(opt)
    tables = Tables(ref, cur, ref_name, cur_name, list(opt.categorical))
    results: list[QualityResult] = []
    blocked: set[str] = set()
    for rule in sorted(QUALITY_RULES.records(), key=lambda r: (r.order, r.name)):
        if rule.name in opt.quality_off:
            continue
        found = rule.function(tables, opt.quality.get(rule.name, rule.threshold))
        results += found
        if rule.blocks:
            blocked |= {q.column for q in found if q.status == "fail" and q.column}
    return results, [c for c in tables.common if c not in blocked]


def compare(ref: Any, cur: Any, opt: DriftOptions, ref_name: str = "reference",
            cur_name: str = "current") -> DriftSection:
    """The drift section of two tables with their data-quality results."""
    from dii_hpc.drift import compare as drift

    results, usable = run(ref, cur, opt, ref_name, cur_name)
    left = set(ref.columns) - set(usable)
    if usable:
        narrowed = opt.model_copy(update={
            "tests": {k: v for k, v in opt.tests.items() if k not in left},
            "categorical": [c for c in opt.categorical if c not in left]})
        section = drift.compare_frames(ref[usable], cur[usable], narrowed, ref_name, cur_name)
    else:
        section = drift.verdict({}, opt, len(ref), len(cur))
    section.data_quality = results
    return section
