"""JUnit XML, the one writer: CI systems (GitLab, Jenkins, GitHub) show each case as a test.

Audits (`audit ... --junit`) and promotion gates (`models gate ... --junit`) both describe
their checks as `Case`s and write them here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One testcase: a failure message makes it a failed test."""

    name: str
    classname: str
    time_s: float | None = None
    failure: str | None = None
    failure_type: str = "threshold"
    output: str | None = None


def write(path: str | os.PathLike[str], suite: str, cases: Sequence[Case]) -> None:
    """One <testsuite> named ``suite`` inside <testsuites>, written atomically."""
    import xml.etree.ElementTree as ET

    from dii_hpc.store.atomic import write_bytes

    node = ET.Element("testsuite", name=suite)
    for case in cases:
        elem = ET.SubElement(node, "testcase", classname=case.classname, name=case.name,
                             time="0" if case.time_s is None else f"{float(case.time_s):.3f}")
        if case.output is not None:
            ET.SubElement(elem, "system-out").text = case.output
        if case.failure is not None:
            ET.SubElement(elem, "failure", message=case.failure,
                          type=case.failure_type).text = case.failure
    node.set("tests", str(len(cases)))
    node.set("failures", str(sum(c.failure is not None for c in cases)))
    node.set("errors", "0")
    root = ET.Element("testsuites")
    root.append(node)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))
