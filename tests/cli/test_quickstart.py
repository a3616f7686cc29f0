"""The README's main-job command, end to end: sweep, audit, drift, report."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from tests.conftest import run_cli


@pytest.mark.slow
def test_quickstart_ends_with_a_report_of_every_kind_of_run(store_path: Path) -> None:
    res = run_cli("quickstart", "--epochs", "2", timeout=1800)
    assert res.returncode == 0, res.stderr[-2000:]
    index = Path(res.stdout.strip().splitlines()[-1])
    assert index.name == "index.html" and index.is_file()
    df = Store(store_path).runs()
    kinds = df.groupby("kind")["status"].apply(set).to_dict()
    assert kinds["train"] == {"FINISHED"} and len(df[df["kind"] == "train"]) == 4
    assert kinds["audit"] == {"FINISHED"} and kinds["drift"] == {"FINISHED"}
    audit = Store(store_path).run(df[df["kind"] == "audit"]["run_id"].iloc[0])
    assert audit["parent_run"] in set(df[df["kind"] == "train"]["run_id"])
    assert audit["audit"]["grade"] in set("ABCDE")
    reg = Registry(store_path)  # the best run registered, audited as that version, promoted
    (version,) = reg.versions("quickstart-digits-cnn")
    assert version["run_id"] == audit["parent_run"] and version["aliases"] == ["champion"]
    assert reg.version("quickstart-digits-cnn", 1)["audits"] == [audit["run_id"]]
    assert [d["passed"] for d in reg.version("quickstart-digits-cnn", 1)["decisions"]] == [True]
    drifted = [Store(store_path).run(r)["drift"]["drift"] for r in df[df["kind"] == "drift"]["run_id"]]
    assert sorted(drifted) == [False, True]  # the clean batch passes, the brightened one drifts
    html = index.read_text()
    assert "quickstart-digits" in html and "digits-pixels" in html
    assert (index.parent / "models" / "quickstart-digits-cnn.html").is_file()
