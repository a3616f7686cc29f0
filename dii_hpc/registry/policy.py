"""Promotion policies: which audits a version must have, and the rules on what they measured.

    audits:                       # audits the candidate must have (not older than the version)
      - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}
      - {attack: mi_loss, rules: {auc: "<= 0.6"}}
    relative:                     # against the version that holds the target alias now
      robust_accuracy: {min_absolute_change: -0.02}          # also min_relative_change,
                                                             # within_interval, greater_is_better
    drift: {monitor: digits-pixels, max_share: 0.3}          # the monitor's last check
    training: {val_acc: ">= 0.9"}                            # the training run's last metrics

Reading checks the file's shape only (keys, operators, numbers, known audit names when a
catalogue is given); metric names are checked against the evidence when it is evaluated.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dii_hpc.errors import ConfigError, NotFound

KEYS = ("audits", "relative", "drift", "training")
AUDIT_KINDS = ("suite", "attack")
RELATIVE_KEYS = ("min_absolute_change", "min_relative_change", "within_interval",
                 "greater_is_better")
DRIFT_KEYS = ("monitor", "max_share")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_RULE = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """``metric OP limit``, e.g. robust_accuracy >= 0.4."""

    metric: str
    op: str
    limit: float

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)

    @property
    def lower_is_better(self) -> bool:
        return self.op in ("<", "<=")

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class AuditRequirement:
    kind: str  # suite | attack
    name: str
    rules: tuple[Threshold, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class RelativeRule:
    metric: str
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    within_interval: bool = False
    greater_is_better: bool | None = None  # None: from an absolute rule on the metric, else True


@dataclass(frozen=True)
class DriftRule:
    monitor: str
    max_share: float | None = None  # None: the last check must have found no drift


@dataclass
class Policy:
    audits: list[AuditRequirement] = field(default_factory=list)
    relative: list[RelativeRule] = field(default_factory=list)
    drift: DriftRule | None = None
    training: list[Threshold] = field(default_factory=list)
    source: str = "policy"
    sha256: str | None = None

    def direction(self, metric: str) -> bool:
        """greater_is_better for ``metric``, from the absolute rules that name it (default True)."""
        for rule in [*(r for a in self.audits for r in a.rules), *self.training]:
            if rule.metric == metric:
                return not rule.lower_is_better
        return True


class _Where:
    """Turns a key path into 'file:line: a.b[0].c' for one-line errors."""

    def __init__(self, source: str, lines: Mapping[tuple[Any, ...], int]) -> None:
        self.source, self.lines = source, lines

    def __call__(self, *path: Any) -> str:
        from dii_hpc.config.yamlio import dotted, line_of

        line = line_of(dict(self.lines), tuple(path)) if self.lines else None
        return f"{self.source}{f':{line}' if line else ''}: {dotted(tuple(path))}"


def _mapping(value: Any, where: str, keys: Collection[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    if keys is not None:
        for key in value:
            if key not in keys:
                raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(keys)}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)


def threshold(metric: str, text: Any, where: str) -> Threshold:
    m = _RULE.match(str(text)) if isinstance(text, (str, int, float)) else None
    if not m or isinstance(text, bool):
        raise ConfigError(f"{where}: {text!r} is not a rule; write \"OP NUMBER\" with OP one of "
                          f"{', '.join(_OPS)} (e.g. \">= 0.4\")")
    return Threshold(metric, m[1], float(m[2]))


def _audit(item: Any, at: _Where, i: int, catalog: Mapping[str, Collection[str]] | None
           ) -> AuditRequirement:
    body = _mapping(item, at("audits", i), (*AUDIT_KINDS, "rules"))
    kinds = [k for k in AUDIT_KINDS if k in body]
    if len(kinds) != 1:
        raise ConfigError(f"{at('audits', i)}: give exactly one of suite or attack")
    kind = kinds[0]
    name = body[kind]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{at('audits', i, kind)}: expected a name, got {name!r}")
    known = (catalog or {}).get(kind)
    if known is not None and name not in known:
        raise NotFound(f"{kind} ({at('audits', i, kind)})", name, list(known))
    rules = _mapping(body.get("rules") or {}, at("audits", i, "rules"))
    return AuditRequirement(kind, name, tuple(threshold(str(m), t, at("audits", i, "rules", m))
                                              for m, t in rules.items()))


def _relative(metric: str, body: Any, at: _Where) -> RelativeRule:
    body = _mapping(body, at("relative", metric), RELATIVE_KEYS)
    if not any(k in body for k in RELATIVE_KEYS[:3]):
        raise ConfigError(f"{at('relative', metric)}: give min_absolute_change, "
                          "min_relative_change or within_interval")
    flags = {}
    for key in ("within_interval", "greater_is_better"):
        if key in body and not isinstance(body[key], bool):
            raise ConfigError(f"{at('relative', metric, key)}: expected true or false")
        flags[key] = body.get(key)
    changes = {k: _number(body[k], at("relative", metric, k)) if k in body else None
               for k in RELATIVE_KEYS[:2]}
    return RelativeRule(metric, changes["min_absolute_change"], changes["min_relative_change"],
                        bool(flags["within_interval"]), flags["greater_is_better"])


def _drift(body: Any, at: _Where) -> DriftRule:
    body = _mapping(body, at("drift"), DRIFT_KEYS)
    monitor = body.get("monitor")
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError(f"{at('drift', 'monitor')}: name the drift monitor")
    share = body.get("max_share")
    if share is not None:
        share = _number(share, at("drift", "max_share"))
    return DriftRule(monitor, share)


def parse(raw: Any, source: str = "policy", lines: Mapping[tuple[Any, ...], int] | None = None,
          catalog: Mapping[str, Collection[str]] | None = None) -> Policy:
    """A policy from its YAML tree; ``catalog`` ({"suite": names, "attack": names}) checks names."""
    at = _Where(source, lines or {})
    body = _mapping(raw if raw is not None else {}, source, KEYS)
    audits = body.get("audits") or []
    if not isinstance(audits, list):
        raise ConfigError(f"{at('audits')}: expected a list of {{suite|attack: NAME, rules: ...}}")
    policy = Policy(source=source)
    policy.audits = [_audit(item, at, i, catalog) for i, item in enumerate(audits)]
    rel = _mapping(body.get("relative") or {}, at("relative"))
    policy.relative = [_relative(str(m), b, at) for m, b in rel.items()]
    policy.drift = _drift(body["drift"], at) if body.get("drift") is not None else None
    training = _mapping(body.get("training") or {}, at("training"))
    policy.training = [threshold(str(m), t, at("training", m)) for m, t in training.items()]
    if not (policy.audits or policy.relative or policy.drift or policy.training):
        raise ConfigError(f"{source}: the policy has no rule (give audits, relative, drift "
                          "or training)")
    return policy


def load(path: str | Path, catalog: Mapping[str, Collection[str]] | None = None) -> Policy:
    """Read a policy YAML file (safe loader; errors name the file, line and key)."""
    from dii_hpc.config import yamlio

    raw, lines = yamlio.load(path)
    policy = parse(raw, str(path), lines, catalog)
    policy.sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return policy
