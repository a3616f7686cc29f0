"""The one JUnit writer: cases, failures and counts as CI systems read them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dii_hpc import junit


def test_cases_and_failures_parse_back(tmp_path: Path) -> None:
    path = tmp_path / "out" / "j.xml"
    junit.write(path, "dii-hpc models gate m v2", [
        junit.Case("audit suite evasion", "dii_hpc.registry.m", output="present"),
        junit.Case("auc <= 0.6", "dii_hpc.registry.m", 1.5, failure="auc = 0.7 <& 0.6",
                   failure_type="policy")])
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "dii-hpc models gate m v2"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    ok, bad = suite.findall("testcase")
    assert ok.find("failure") is None and ok.findtext("system-out") == "present" and ok.get("time") == "0"
    failure = bad.find("failure")
    assert failure is not None and failure.get("message") == "auc = 0.7 <& 0.6"
    assert failure.get("type") == "policy" and bad.get("time") == "1.500"
