"""Evaluate a policy over the evidence already in the store: one `Check` per rule.

Evidence is read, never computed: the audit runs attached to a version (see ``links``), the
training run's last metrics, and the last drift check of a monitor (a run of kind "drift" in
the experiment named after it). An attached audit counts only when the model weights it
recorded (``manifest.weights_sha256``) are the version's: a link can be wrong (copied by a
merge, written by hand), the audit's own record of what it loaded cannot. A rule whose
evidence is missing fails and says what to run; a rule naming a metric its evidence does not
have is bad input (exit 2).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import BadInput, NotFound
from dii_hpc.records import audit as audit_record
from dii_hpc.registry import links
from dii_hpc.registry.policy import AuditRequirement, Policy, RelativeRule, Threshold


@dataclass
class Check:
    rule: str  # what was required, e.g. "suite evasion: robust_accuracy >= 0.4"
    passed: bool
    detail: str  # one line: the value found and where, or what is missing
    value: float | None = None
    limit: float | None = None
    evidence: str | None = None  # run id the value came from


@dataclass
class Decision:
    name: str
    version: int
    alias: str | None
    baseline: int | None
    policy: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> list[str]:
        return [f"FAILED {c.rule}: {c.detail}" for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "alias": self.alias,
                "baseline": self.baseline, "policy": self.policy, "passed": self.passed,
                "checks": [asdict(c) for c in self.checks],
                "evidence": sorted({c.evidence for c in self.checks if c.evidence})}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class _Evidence:
    """The runs a version's rules are judged on, read once."""

    def __init__(self, registry: Any, record: dict[str, Any]) -> None:
        self.registry, self.record = registry, record
        self.name, self.version = record["name"], int(record["version"])
        self.weights = str((record.get("weights") or {}).get("sha256") or "")
        self._audits: list[dict[str, Any]] | None = None
        self._foreign: list[dict[str, Any]] = []  # attached audits of other weights

    def audits(self) -> list[dict[str, Any]]:
        """FINISHED audit runs attached to the version that audited the version's weights."""
        if self._audits is None:
            out: list[dict[str, Any]] = []
            for link in links.of(self.registry.store.root, self.name, self.version, "audit"):
                try:
                    run = self.registry.store.run(link["run_id"])
                except BadInput:  # deleted since: not evidence any more
                    continue
                if run.get("status") != vocab.FINISHED or audit_record.of(run) is None:
                    continue
                (out if audited_weights(run) == self.weights else self._foreign).append(run)
            self._audits = sorted(out, key=lambda r: r.get("start_time") or 0)
        return self._audits

    def foreign(self, req: AuditRequirement) -> list[dict[str, Any]]:
        """Attached audits matching ``req`` that audited other weights (or recorded none)."""
        self.audits()
        return [r for r in self._foreign if _is(r, req)]

    def audit(self, req: AuditRequirement) -> tuple[dict[str, Any] | None, bool]:
        """(newest matching audit not older than the version, whether an older one exists)."""
        matching = [r for r in self.audits() if _is(r, req)]
        fresh = [r for r in matching if (r.get("start_time") or 0) >= self.record["created"]]
        return (fresh[-1] if fresh else None), bool(matching) and not fresh

    def training(self) -> dict[str, Any]:
        return (self.record.get("run") or {}).get("metrics") or {}


def _is(run: dict[str, Any], req: AuditRequirement) -> bool:
    found = audit_record.of(run)
    return found is not None and found.is_(req.kind, req.name)


def _metric(run: dict[str, Any], metric: str, what: str, source: str) -> float:
    found = audit_record.of(run) or audit_record.AuditSection()
    value = found.metric(metric)
    if value is None:
        known = ", ".join(sorted(found.numeric()))
        raise BadInput(f"{source}: {what}: unknown metric {metric!r} (audit run {run['run_id']} "
                       f"has {known or 'no numeric metrics'})")
    return value


def audited_weights(run: dict[str, Any]) -> str | None:
    """The sha256 of the weights an audit run loaded, as it recorded them (None: unknown)."""
    return audit_record.weights_sha256(run)


def _missing(ev: _Evidence, req: AuditRequirement, older: bool) -> Check:
    label = f"models:/{ev.name}/{ev.version}"
    why = (f"its only {req} audits are older than the version" if older
           else f"no {req} audit of {label} yet")
    foreign = ev.foreign(req)
    if foreign and not older:
        run = foreign[-1]
        sha = audited_weights(run)
        seen = f"weights {sha[:12]}" if sha else "no weights"
        why = (f"audit run {run['run_id']} attached to it recorded {seen}, not the version's "
               f"{ev.weights[:12]}")
    hint = f"dii-hpc audit {req.kind} {req.name} --model {label} --data ..."
    return Check(f"audit {req}", False, f"missing audit ({why}; audit it: `{hint}`)")


def _threshold(rule: Threshold, value: float, prefix: str, evidence: str | None) -> Check:
    ok = rule.holds(value)
    where = f" (run {evidence})" if evidence else ""
    return Check(f"{prefix}{rule}", ok, f"{rule.metric} = {value:.4g}{where}, needs {rule.op} "
                 f"{rule.limit:g}", value, rule.limit, evidence)


def _audit_checks(ev: _Evidence, policy: Policy) -> list[Check]:
    out = []
    for req in policy.audits:
        run, older = ev.audit(req)
        if run is None:
            out.append(_missing(ev, req, older))
            continue
        out.append(Check(f"audit {req}", True, f"present (run {run['run_id']})",
                         evidence=run["run_id"]))
        for rule in req.rules:
            value = _metric(run, rule.metric, f"audits {req}", policy.source)
            out.append(_threshold(rule, value, f"{req}: ", run["run_id"]))
    return out


def _training_checks(ev: _Evidence, policy: Policy) -> list[Check]:
    out = []
    metrics = ev.training()
    for rule in policy.training:
        value = _number(metrics.get(rule.metric))
        if value is None:
            raise BadInput(f"{policy.source}: training: unknown metric {rule.metric!r} (run "
                           f"{ev.record['run_id']} has {', '.join(sorted(metrics)) or 'none'})")
        out.append(_threshold(rule, value, "training: ", ev.record["run_id"]))
    return out


def _value_of(ev: _Evidence, policy: Policy, metric: str
              ) -> tuple[float, str, dict[str, Any] | None, AuditRequirement | None] | None:
    """(value, run id, audit run, requirement) of ``metric`` for a version, audits first."""
    for req in policy.audits:
        run, _ = ev.audit(req)
        found = audit_record.of(run) if run is not None else None
        value = found.metric(metric) if found is not None else None
        if run is not None and value is not None:
            return value, run["run_id"], run, req
    value = _number(ev.training().get(metric))
    if value is not None:
        return value, ev.record["run_id"], None, None
    return None


def _interval(run: dict[str, Any] | None, metric: str) -> tuple[float, float] | None:
    found = audit_record.of(run) if run is not None else None
    return found.interval(metric) if found is not None else None


def _relative_check(rule: RelativeRule, cand: _Evidence, base: _Evidence | None,
                    policy: Policy, alias: str | None) -> list[Check]:
    label = f"relative {rule.metric}"
    got = _value_of(cand, policy, rule.metric)
    if got is None:
        absent = [r for r in policy.audits if cand.audit(r)[0] is None]
        if not absent:
            raise BadInput(f"{policy.source}: relative: unknown metric {rule.metric!r} (in no "
                           "audit of the policy and not a training metric)")
        return [Check(label, False, f"no value for {rule.metric}: audit {absent[0]} is missing")]
    value, rid, _run, req = got
    if base is None:
        return [Check(label, True, f"no version holds {alias or 'the alias'} yet: nothing to "
                      "compare with", value, None, rid)]
    if base.version == cand.version:
        return [Check(label, True, "the candidate already holds the alias", value, None, rid)]
    if req is not None:
        brun, _ = base.audit(req)
        bfound = audit_record.of(brun) if brun is not None else None
        bvalue = bfound.metric(rule.metric) if bfound is not None else None
    else:
        brun, bvalue = None, _number(base.training().get(rule.metric))
    if bvalue is None:
        return [Check(label, False, f"baseline v{base.version} ({alias}) has no {rule.metric} "
                      f"({'audit ' + str(req) if req else 'training metric'} missing)", value)]
    up = rule.greater_is_better if rule.greater_is_better is not None else policy.direction(rule.metric)
    delta = (value - bvalue) if up else (bvalue - value)
    vs = f"{rule.metric} {value:.4g} vs {bvalue:.4g} of v{base.version} ({alias})"
    out = []
    if rule.min_absolute_change is not None:
        ok = delta >= rule.min_absolute_change
        out.append(Check(f"{label}: change >= {rule.min_absolute_change:g}", ok,
                         f"{vs}: change {delta:+.4g}", value, bvalue + rule.min_absolute_change
                         * (1 if up else -1), rid))
    if rule.min_relative_change is not None:
        rel = delta / abs(bvalue) if bvalue else (math.inf if delta > 0 else 0.0)
        out.append(Check(f"{label}: relative change >= {rule.min_relative_change:g}",
                         rel >= rule.min_relative_change, f"{vs}: relative change {rel:+.3g}",
                         value, None, rid))
    if rule.within_interval:
        iv = _interval(brun, rule.metric)
        if iv is None:
            out.append(Check(f"{label}: within the baseline's interval", False,
                             f"baseline v{base.version} records no interval for {rule.metric}",
                             value))
        else:
            bound = iv[0] if up else iv[1]
            ok = value >= bound if up else value <= bound
            out.append(Check(f"{label}: not worse than the baseline's interval", ok,
                             f"{vs}: interval [{iv[0]:.4g}, {iv[1]:.4g}]", value, bound, rid))
    return out


def _drift_checks(registry: Any, policy: Policy) -> list[Check]:
    from dii_hpc.records import drift as drift_record
    from dii_hpc.records import monitor as monitors

    rule = policy.drift
    if rule is None:
        return []
    store = registry.store
    known = monitors.names(store)
    if rule.monitor not in known and rule.monitor not in store.experiments():
        raise NotFound("drift monitor", rule.monitor, known)
    runs = [(r, section) for r in store.records(rule.monitor) if r.get("kind") == "drift"
            and r.get("status") == vocab.FINISHED
            and (section := drift_record.read(r)) is not None]
    label = f"drift {rule.monitor}: " + (f"share drifted <= {rule.max_share:g}"
                                         if rule.max_share is not None else "no drift")
    if not runs:
        return [Check(label, False, f"monitor {rule.monitor} has no drift check yet "
                      f"(run `dii-hpc drift check --monitor {rule.monitor} --data ...`)")]
    last, section = max(runs, key=lambda rs: (rs[0].get("start_time") or 0, rs[0]["run_id"]))
    share = _number(section.share_drifted)
    if rule.max_share is not None and share is not None:
        return [Check(label, share <= rule.max_share, f"last check {last['run_id']}: share "
                      f"drifted {share:.3g}", share, rule.max_share, last["run_id"])]
    return [Check(label, not section.drift, f"last check {last['run_id']}: "
                  f"{'drift' if section.drift else 'no drift'}", evidence=last["run_id"])]


def evaluate(registry: Any, record: dict[str, Any], policy: Policy,
             alias: str | None = None) -> Decision:
    """Every rule of ``policy`` for the version ``record``; relative rules against ``alias``."""
    cand = _Evidence(registry, record)
    baseline = None
    if alias is not None:
        held = registry.alias_version(record["name"], alias)
        if held is not None:
            baseline = _Evidence(registry, registry.resolve(record["name"], held))
    decision = Decision(record["name"], int(record["version"]), alias,
                        baseline.version if baseline else None,
                        {"source": policy.source, "sha256": policy.sha256})
    decision.checks += _audit_checks(cand, policy)
    decision.checks += _training_checks(cand, policy)
    for rule in policy.relative:
        decision.checks += _relative_check(rule, cand, baseline, policy, alias)
    decision.checks += _drift_checks(registry, policy)
    return decision
