"""A data-quality rule as one record: what it checks, its default threshold, its exit code.

Data breaks before distributions move (a renamed column, text in a numeric field, a feed that
stops filling a column), and a drift test on broken data says "drift" for the wrong reason or
crashes. Each rule is a `QualityRule` (Evidently's test-suite idea, the registry of
`dii_hpc.plugins`): the built-ins are one module each in `dii_hpc.drift.quality.rules`, a user's
own come from the entry-point group ``dii_hpc.quality_rules``. A rule returns one
`QualityResult` per column it judged (``column`` None: the whole table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dii_hpc.plugins import Family
from dii_hpc.records.drift import QualityResult


@dataclass
class Tables:
    """What every rule sees: both batches (feature columns only), their names, the columns
    they share and each shared column's kind in both (`kind_of`)."""

    reference: Any
    current: Any
    ref_name: str
    cur_name: str
    categorical: list[str]
    common: list[str] = field(default_factory=list)
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.common = [c for c in self.reference.columns if c in self.current.columns]
        self.kinds = {c: (kind_of(self.reference[c], c in self.categorical),
                          kind_of(self.current[c], c in self.categorical)) for c in self.common}

    def same_kind(self) -> list[str]:
        """Shared columns whose kind did not change (the ones value rules can judge)."""
        return [c for c in self.common if self.kinds[c][0] == self.kinds[c][1]]


def kind_of(series: Any, categorical: bool) -> str:
    """number, bool, datetime, text, or category (a column declared categorical)."""
    import pandas as pd

    if categorical:
        return "category"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def shown(value: Any) -> str:
    """A value as a person reads it in a detail (numpy scalars as plain numbers)."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def result(rule: str, column: str | None, failed: bool, detail: str) -> QualityResult:
    return QualityResult(rule=rule, column=column, status="fail" if failed else "ok",
                         detail=detail)


@dataclass(frozen=True)
class QualityRule:
    """``function(tables, threshold)`` judges the batch. ``blocks``: a column it fails is left
    out of the drift tests (they cannot compare it). ``exit_code``: a failure's exit code."""

    name: str
    function: Callable[[Tables, float], list[QualityResult]]
    threshold: float
    doc: str
    order: int = 100
    blocks: bool = False
    exit_code: int = 1


QUALITY_RULES: Family[QualityRule] = Family("data-quality rule", QualityRule,
                                            "dii_hpc.quality_rules",
                                            ["dii_hpc.drift.quality.rules"])
