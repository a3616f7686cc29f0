"""The audit section of a run: ``run.json["audit"]``, what an audit found.

Written once, by the audit that computed it (`audit.core.results.persist` through `section`);
read by the registry (policies over attached audits), the report (audit pages, the index,
model pages) and the UI through `of`, never by string keys of their own. The weights an
audit loaded are its run's manifest's (`weights_sha256`): a gate counts only audits of a
version's own weights.

Shape (every key optional in records written by older versions):
    level, threat, task, suite | attack, grade, summary, metrics {name: number | interval},
    attacks [{name, params, metrics, intervals, time_s, seeds, ...}], curves {name: ...},
    sanity [{flag, ok, detail}], examples [artifact names], n_samples, params, config,
    standard (AutoAttack's), run_id; and what placements add (slurm, reference_training,
    thresholds, resumed_shards, exposed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECTION = "audit"
KINDS = ("suite", "attack")
_FIELDS = ("level", "threat", "task", "suite", "attack", "grade", "summary", "metrics",
           "attacks", "curves", "sanity", "examples", "n_samples", "params", "config",
           "standard", "run_id")


@dataclass(frozen=True)
class AuditSection:
    """One audit run's section, typed (`of` reads it from a run record)."""

    level: str | None = None
    threat: str | None = None
    task: str | None = None
    suite: str | None = None
    attack: str | None = None
    grade: str | None = None
    summary: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    attacks: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict)
    sanity: list[dict[str, Any]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    n_samples: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    standard: dict[str, Any] | None = None
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what placements added

    @property
    def kind(self) -> str:
        """``suite`` (level I) or ``attack`` (levels II and III)."""
        return "suite" if self.suite else "attack"

    @property
    def name(self) -> str | None:
        return self.suite or self.attack

    @property
    def label(self) -> str:
        """``suite evasion`` / ``attack pgd``: what a policy requirement names."""
        return f"{self.kind} {self.name}"

    def is_(self, kind: str, name: str) -> bool:
        """Whether this is the audit ``kind`` (suite | attack) ``name`` a policy requires."""
        return kind in KINDS and getattr(self, kind) == name

    def metric(self, name: str) -> float | None:
        """A finite number among the metrics (None: absent, an interval, not finite)."""
        return _finite(self.metrics.get(name))

    def numeric(self) -> dict[str, float]:
        """The metrics that are finite numbers."""
        out = {k: _finite(v) for k, v in self.metrics.items()}
        return {k: v for k, v in out.items() if v is not None}

    def attack_records(self) -> list[dict[str, Any]]:
        return [a for a in self.attacks if isinstance(a, dict)]

    def interval(self, metric: str) -> tuple[float, float] | None:
        """The 95% interval of ``metric``: the suite's (``<metric>_interval``), the
        section's, else the first attack's that has one."""
        intervals = self.extra.get("intervals")
        for found in (self.metrics.get(f"{metric}_interval"),
                      intervals.get(metric) if isinstance(intervals, dict) else None,
                      *((a.get("intervals") or {}).get(metric) for a in self.attack_records())):
            if isinstance(found, (list, tuple)) and len(found) == 2:
                lo, hi = _finite(found[0]), _finite(found[1])
                if lo is not None and hi is not None:
                    return lo, hi
        return None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _of_type(raw: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = raw.get(key)
    return value if isinstance(value, kind) else default


def from_section(raw: Mapping[str, Any]) -> AuditSection:
    """The typed section of a ``run.json["audit"]`` mapping (odd values read as absent)."""
    text = {k: (str(raw[k]) if raw.get(k) is not None else None)
            for k in ("level", "threat", "task", "suite", "attack", "grade", "run_id")}
    n = raw.get("n_samples")
    return AuditSection(
        **text, summary=str(raw.get("summary") or ""),
        metrics=_of_type(raw, "metrics", dict, {}), attacks=_of_type(raw, "attacks", list, []),
        curves=_of_type(raw, "curves", dict, {}), sanity=_of_type(raw, "sanity", list, []),
        examples=[str(e) for e in _of_type(raw, "examples", list, [])],
        n_samples=int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None,
        params=_of_type(raw, "params", dict, {}), config=_of_type(raw, "config", dict, {}),
        standard=_of_type(raw, "standard", dict, None),
        extra={k: v for k, v in raw.items() if k not in _FIELDS})


def of(record: Mapping[str, Any] | None) -> AuditSection | None:
    """The audit section of a run record (``run.json``), or None when it has none."""
    raw = (record or {}).get(SECTION)
    return from_section(raw) if isinstance(raw, Mapping) else None


def weights_sha256(record: Mapping[str, Any]) -> str | None:
    """The sha256 of the weights an audit run loaded, as its manifest recorded them."""
    sha = ((record or {}).get("manifest") or {}).get("weights_sha256")
    return str(sha) if sha else None


def section(result: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """What an audit writes into its run: the result without its manifest (the run's own)
    and with the run's id, as strict JSON (`store.atomic.standard`)."""
    from dii_hpc.store.atomic import standard

    out: dict[str, Any] = standard({**{k: v for k, v in result.items() if k != "manifest"},
                                    "run_id": run_id})
    return out
