"""Policy files: the issue's keys, one-line errors naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.registry import policy

CATALOG = {"suite": ["evasion", "privacy", "poisoning"], "attack": ["mi_loss", "pgd", "fgsm"]}
GOOD = """\
audits:
  - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}
  - {attack: mi_loss, rules: {auc: "<= 0.6"}}
relative:
  robust_accuracy: {min_absolute_change: -0.02}
  auc: {min_relative_change: 0, within_interval: true, greater_is_better: false}
drift: {monitor: digits-pixels, max_share: 0.3}
training: {val_acc: "> 0.9"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_the_issue_policy_reads(tmp_path: Path) -> None:
    p = policy.load(_write(tmp_path, GOOD), CATALOG)
    assert [str(a) for a in p.audits] == ["suite evasion", "attack mi_loss"]
    assert str(p.audits[0].rules[0]) == "robust_accuracy >= 0.4"
    assert p.audits[1].rules[0].holds(0.6) and not p.audits[1].rules[0].holds(0.61)
    assert p.relative[0] == policy.RelativeRule("robust_accuracy", min_absolute_change=-0.02)
    assert p.relative[1].within_interval and p.relative[1].greater_is_better is False
    assert p.drift == policy.DriftRule("digits-pixels", 0.3)
    assert str(p.training[0]) == "val_acc > 0.9" and len(p.sha256 or "") == 64
    assert p.direction("auc") is False and p.direction("robust_accuracy") is True


@pytest.mark.parametrize(("text", "message"), [
    ("audit: []\n", r"policy.yaml:1: audit: unknown key; did you mean audits\?"),
    ("audits:\n  - {suite: evasoin}\n",
     r"unknown suite \(.*policy.yaml:2: audits\[0\].suite\) 'evasoin' \(did you mean evasion\?\)"),
    ("audits:\n  - {attack: mi_lost}\n", r"unknown attack .*'mi_lost' \(did you mean mi_loss\?\)"),
    ("audits:\n  - {suite: evasion, attack: pgd}\n", r"policy.yaml:2: audits\[0\]: give exactly one"),
    ("audits:\n  - {suite: evasion, rules: {robust_accuracy: \"about 0.4\"}}\n",
     r"policy.yaml:2: audits\[0\].rules.robust_accuracy: 'about 0.4' is not a rule"),
    ("relative:\n  auc: {min_change: 1}\n",
     r"policy.yaml:2: relative.auc.min_change: unknown key"),
    ("relative:\n  auc: {greater_is_better: true}\n", r"give min_absolute_change"),
    ("drift: {max_share: 0.3}\n", r"policy.yaml:1: drift.monitor: required key is missing"),
    ("drift: {monitor: m, max_share: lots}\n", r"policy.yaml:1: drift.max_share: 'lots' is not a number"),
    ("{}\n", r"the policy has no rule"),
])
def test_bad_policies_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as err:
        policy.load(_write(tmp_path, text), CATALOG)
    assert "\n" not in str(err.value)
