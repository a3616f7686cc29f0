"""Promotion policies: which audits a version must have, and the rules on what they measured.

    audits:                       # audits the candidate must have (not older than the version)
      - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}
      - {attack: mi_loss, rules: {auc: "<= 0.6"}}
    relative:                     # against the version that holds the target alias now
      robust_accuracy: {min_absolute_change: -0.02}          # also min_relative_change,
                                                             # within_interval, greater_is_better
    drift: {monitor: digits-pixels, max_share: 0.3}          # the monitor's last check
    training: {val_acc: ">= 0.9"}                            # the training run's last metrics

The file is read by pydantic models through `config.typed` (the one loader of every config
file), so every error is one line with the file, the line and the key
(``policy.yaml:2: audits[0].rules.robust_accuracy: 'about 0.4' is not a rule ...``); then
the audit names are checked against a catalogue when one is given. Metric names are checked
against the evidence when it is evaluated. The rules themselves (`Policy`, `Threshold`, ...)
are plain dataclasses: what `evaluate` reads.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    FiniteFloat,
    StrictBool,
    field_validator,
    model_validator,
)

from dii_hpc.errors import ConfigError, NotFound

KEYS = ("audits", "relative", "drift", "training")
AUDIT_KINDS = ("suite", "attack")
RELATIVE_KEYS = ("min_absolute_change", "min_relative_change", "within_interval",
                 "greater_is_better")
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


# ------------------------------------------------------------------ the file's models
def _rule(text: Any) -> Any:
    """``"OP NUMBER"`` -> (op, limit); anything else is an error naming the key."""
    m = _RULE.match(str(text)) if isinstance(text, (str, int, float)) else None
    if not m or isinstance(text, bool):
        raise ValueError(f"{text!r} is not a rule; write \"OP NUMBER\" with OP one of "
                         f"{', '.join(_OPS)} (e.g. \">= 0.4\")")
    return (m[1], float(m[2]))


Rule = Annotated[tuple[str, float], BeforeValidator(_rule)]


def _empty(value: Any) -> Any:
    return {} if value is None else value  # `rules:` alone has no rule


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuditEntry(_Strict):
    """``{suite|attack: NAME, rules: {METRIC: "OP NUMBER"}}``."""

    suite: str | None = None
    attack: str | None = None
    rules: Annotated[dict[str, Rule], BeforeValidator(_empty)] = {}

    @field_validator("suite", "attack")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if not value:
            raise ValueError(f"expected a name, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one(self) -> AuditEntry:
        if (self.suite is None) == (self.attack is None):
            raise ValueError("give exactly one of suite or attack")
        return self


class RelativeEntry(_Strict):
    min_absolute_change: FiniteFloat | None = None
    min_relative_change: FiniteFloat | None = None
    within_interval: StrictBool = False
    greater_is_better: StrictBool | None = None

    @model_validator(mode="after")
    def _some(self) -> RelativeEntry:
        if self.min_absolute_change is None and self.min_relative_change is None \
                and "within_interval" not in self.model_fields_set:
            raise ValueError("give min_absolute_change, min_relative_change or within_interval")
        return self


class DriftEntry(_Strict):
    monitor: str
    max_share: FiniteFloat | None = None

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, value: str) -> str:
        if not value:
            raise ValueError("name the drift monitor")
        return value


class PolicyFile(_Strict):
    """A policy file (see the module docstring)."""

    audits: Annotated[list[AuditEntry], BeforeValidator(lambda v: v or [])] = []
    relative: Annotated[dict[str, RelativeEntry], BeforeValidator(_empty)] = {}
    drift: DriftEntry | None = None
    training: Annotated[dict[str, Rule], BeforeValidator(_empty)] = {}


def _policy(body: PolicyFile, source: str) -> Policy:
    audits = [AuditRequirement(kind, str(getattr(a, kind)), tuple(
        Threshold(str(m), op, limit) for m, (op, limit) in a.rules.items()))
        for a in body.audits for kind in AUDIT_KINDS if getattr(a, kind) is not None]
    relative = [RelativeRule(str(m), r.min_absolute_change, r.min_relative_change,
                             r.within_interval, r.greater_is_better)
                for m, r in body.relative.items()]
    drift = DriftRule(body.drift.monitor, body.drift.max_share) if body.drift else None
    training = [Threshold(str(m), op, limit) for m, (op, limit) in body.training.items()]
    return Policy(audits, relative, drift, training, source=source)


def _known(policy: Policy, source: str, lines: Mapping[tuple[Any, ...], int],
           catalog: Mapping[str, Collection[str]]) -> None:
    """Every required audit is one the catalogue has (a typo named with close names)."""
    from dii_hpc.config.yamlio import line_of

    for i, req in enumerate(policy.audits):
        known = catalog.get(req.kind)
        if known is not None and req.name not in known:
            line = line_of(dict(lines), ("audits", i, req.kind)) if lines else None
            where = f"{source}{f':{line}' if line else ''}: audits[{i}].{req.kind}"
            raise NotFound(f"{req.kind} ({where})", req.name, list(known))


def parse(raw: Any, source: str = "policy", lines: Mapping[tuple[Any, ...], int] | None = None,
          catalog: Mapping[str, Collection[str]] | None = None) -> Policy:
    """A policy from its YAML tree; ``catalog`` ({"suite": names, "attack": names}) checks names."""
    from dii_hpc.config import typed

    body = typed.validate(PolicyFile, raw, source=source, lines=dict(lines or {}))
    policy = _policy(body, source)
    if not (policy.audits or policy.relative or policy.drift or policy.training):
        raise ConfigError(f"{source}: the policy has no rule (give audits, relative, drift "
                          "or training)")
    _known(policy, source, lines or {}, catalog or {})
    return policy


def load(path: str | Path, catalog: Mapping[str, Collection[str]] | None = None) -> Policy:
    """Read a policy YAML file (errors name the file, line and key)."""
    from dii_hpc.config import typed

    raw, lines = typed.read(path)
    policy = parse(raw, str(path), lines, catalog)
    policy.sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return policy
