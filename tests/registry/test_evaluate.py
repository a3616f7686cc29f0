"""Policies over the evidence in the store: audits attached to a version, relative rules against
the alias holder, drift, training metrics; promotion records its decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.registry import policy as policymod
from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from dii_hpc.tracking.run import start_run
from tests.registry.conftest import make_training_run

LOADER = "tests.registry.fixtures:constant"


def _audit(reg: Registry, version: int | None, metrics: dict[str, Any], kind: str = "suite",
           name: str = "evasion", weights: str | None = None, **extra: Any) -> str:
    """An audit run that recorded ``weights`` (default: the version's, as a real audit of it
    records), attached to ``version`` unless None."""
    sha = weights or reg.resolve("m", version or 1)["weights"]["sha256"]
    with start_run("audits", kind="audit", store=reg.store) as run:
        run.set_section("audit", {kind: name, "metrics": metrics, **extra})
        run.set_manifest({"weights_sha256": sha})
    if version is not None:
        reg.attach("m", version, "audit", run.id)
    return run.id


def _drift(store: Store, monitor: str, share: float) -> str:
    with start_run(monitor, kind="drift", tags={"monitor": monitor}, store=store) as run:
        run.set_section("drift", {"monitor": monitor, "share_drifted": share, "drift": share > 0.5})
    return run.id


def _policy(text: str, tmp_path: Path) -> policymod.Policy:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return policymod.load(path)


@pytest.fixture()
def reg(store_path: Path) -> Registry:
    store = Store(store_path)
    reg = Registry(store)
    run_id = make_training_run(store)
    for _ in range(2):
        reg.register(run_id, "m", loader=LOADER)
    return reg


def _failed(decision: Any) -> list[str]:
    return [c.rule for c in decision.checks if not c.passed]


def test_required_audits_and_their_rules(reg: Registry, tmp_path: Path) -> None:
    p = _policy('audits:\n  - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}\n'
                '  - {attack: mi_loss, rules: {auc: "<= 0.6"}}\n', tmp_path)
    d = reg.gate("m", 2, p)
    assert _failed(d) == ["audit suite evasion", "audit attack mi_loss"]
    assert "missing audit (no suite evasion audit of models:/m/2 yet" in d.failures()[0]
    ev = _audit(reg, 2, {"robust_accuracy": 0.3})
    mi = _audit(reg, 2, {"auc": 0.55}, kind="attack", name="mi_loss")
    d = reg.gate("m", 2, p)
    assert _failed(d) == ["suite evasion: robust_accuracy >= 0.4"]
    assert d.failures() == [f"FAILED suite evasion: robust_accuracy >= 0.4: robust_accuracy = 0.3 "
                            f"(run {ev}), needs >= 0.4"]
    assert d.to_dict()["evidence"] == sorted([ev, mi])
    _audit(reg, 2, {"robust_accuracy": 0.45})  # the newest audit is the evidence
    assert reg.gate("m", 2, p).passed
    with pytest.raises(BadInput, match=r"unknown metric 'robust_acc' \(audit run .* has robust_accuracy\)"):
        reg.gate("m", 2, _policy('audits:\n  - {suite: evasion, rules: {robust_acc: ">= 0.4"}}\n',
                                 tmp_path))


def test_an_audit_older_than_the_version_does_not_count(reg: Registry, tmp_path: Path) -> None:
    old = _audit(reg, None, {"robust_accuracy": 0.9})
    v = reg.register(reg.resolve("m", 1)["run_id"], "m", loader=LOADER)["version"]
    reg.attach("m", v, "audit", old)
    d = reg.gate("m", v, _policy("audits:\n  - {suite: evasion}\n", tmp_path))
    assert not d.passed and "older than the version" in d.failures()[0]


def test_relative_rules_compare_with_the_alias_holder(reg: Registry, tmp_path: Path) -> None:
    _audit(reg, 1, {"robust_accuracy": 0.5, "robust_accuracy_interval": [0.45, 0.55], "auc": 0.6})
    _audit(reg, 2, {"robust_accuracy": 0.47, "auc": 0.58})
    head = 'audits:\n  - {suite: evasion, rules: {auc: "<= 0.7"}}\nrelative:\n'
    first = reg.gate("m", 2, _policy(head + "  robust_accuracy: {min_absolute_change: -0.02}\n",
                                     tmp_path), to="champion")
    assert first.passed and "no version holds champion yet" in first.checks[-1].detail
    reg.set_alias("m", 1, "champion")
    cases = {"robust_accuracy: {min_absolute_change: -0.02}": False,  # -0.03 is worse than allowed
             "robust_accuracy: {min_absolute_change: -0.05}": True,
             "robust_accuracy: {min_relative_change: 0.0}": False,
             "robust_accuracy: {within_interval: true}": True,   # 0.47 >= 0.45
             "auc: {min_absolute_change: 0.01}": True}  # lower is better (its rule says <=): 0.02 better
    for rule, ok in cases.items():
        d = reg.gate("m", 2, _policy(head + f"  {rule}\n", tmp_path), to="champion")
        assert d.passed is ok, (rule, d.failures())
        assert d.baseline == 1
    d = reg.gate("m", 2, _policy(head + "  auc: {within_interval: true}\n", tmp_path), to="champion")
    assert d.failures() == ["FAILED relative auc: within the baseline's interval: baseline v1 "
                            "records no interval for auc"]
    with pytest.raises(BadInput, match="relative: unknown metric 'nope'"):
        reg.gate("m", 2, _policy(head + "  nope: {min_absolute_change: 0}\n", tmp_path), to="champion")


def test_drift_and_training_rules(reg: Registry, tmp_path: Path) -> None:
    p = _policy("drift: {monitor: pixels, max_share: 0.3}\ntraining: {val_acc: '>= 0.8'}\n", tmp_path)
    with pytest.raises(BadInput, match="unknown drift monitor 'pixels'"):
        reg.gate("m", 1, p)
    _drift(reg.store, "pixels", 0.1)
    assert reg.gate("m", 1, p).passed
    last = _drift(reg.store, "pixels", 0.6)
    d = reg.gate("m", 1, p)
    assert d.failures() == [f"FAILED drift pixels: share drifted <= 0.3: last check {last}: share "
                            "drifted 0.6"]
    with pytest.raises(BadInput, match=r"training: unknown metric 'acc' \(run .* has val_acc\)"):
        reg.gate("m", 1, _policy("training: {acc: '>= 0.8'}\n", tmp_path))


def test_promote_records_the_decision_and_moves_the_alias_only_when_it_passes(
        reg: Registry, tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text('audits:\n  - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}\n')
    assert not reg.promote("m", 2, "champion", p).passed
    assert reg.alias_version("m", "champion") is None
    rid = _audit(reg, 2, {"robust_accuracy": 0.5})
    assert reg.promote("m", 2, "champion", p).passed
    assert reg.alias_version("m", "champion") == 2
    decisions = reg.version("m", 2)["decisions"]
    assert [d["passed"] for d in decisions] == [False, True]
    assert decisions[1]["evidence"] == [rid] and decisions[1]["user"] and decisions[1]["time"]
    assert decisions[1]["policy"]["source"] == str(p) and decisions[1]["alias"] == "champion"
    moves = [e for e in reg.show("m")["history"] if e["event"] == "alias"]
    assert moves[-1]["reason"] == f"promoted by policy {p}"


def test_a_gate_never_accepts_an_audit_of_other_weights(store_path: Path, tmp_path: Path) -> None:
    """An audit attached to v2 that loaded other weights (v1's, or none it recorded) is no
    evidence for v2: the gate fails and says whose weights it saw."""
    store = Store(store_path)
    reg = Registry(store)
    reg.register(make_training_run(store, weights=b"\x01first"), "m", loader=LOADER)
    v2 = reg.register(make_training_run(store, weights=b"\x02second"), "m", loader=LOADER)
    theirs = reg.resolve("m", 1)["weights"]["sha256"]
    p = _policy('audits:\n  - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}\n', tmp_path)
    foreign = _audit(reg, 2, {"robust_accuracy": 0.9}, weights=theirs)
    d = reg.gate("m", 2, p)
    assert not d.passed and _failed(d) == ["audit suite evasion"]
    assert (f"audit run {foreign} attached to it recorded weights {theirs[:12]}, not the "
            f"version's {v2['weights']['sha256'][:12]}") in d.failures()[0]
    with start_run("audits", kind="audit", store=store) as blind:  # records no weights
        blind.set_section("audit", {"suite": "evasion", "metrics": {"robust_accuracy": 0.9}})
    reg.attach("m", 2, "audit", blind.id)
    assert "recorded no weights" in reg.gate("m", 2, p).failures()[0]
    own = _audit(reg, 2, {"robust_accuracy": 0.5})
    d = reg.gate("m", 2, p)
    assert d.passed and d.to_dict()["evidence"] == [own]
