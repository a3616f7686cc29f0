"""The README's main-job command, end to end: sweep, audit, drift, report."""

from __future__ import annotations

import re
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
    # #26: the drift it injects on purpose is a verdict and its top features, not an error
    # after two tables of 64 pixels
    assert "dii-hpc: error" not in res.stderr, res.stderr[-2000:]
    assert "current-clean.csv (the test split as it is): no drift (" in res.stdout
    assert "current-shifted.csv (the test split brightened): DRIFT (" in res.stdout
    assert "Finding this drift is the point" in res.stdout
    assert len(re.findall(r"^px\d\d ", res.stdout, re.M)) == 10  # 5 per check


def test_drift_summary_is_the_verdict_and_the_most_drifted_features(tmp_path: Path) -> None:
    """The quickstart's summary of a check: ranked by how far past its threshold each is."""
    from dii_hpc.cli.quickstart import drift_summary
    from dii_hpc.drift import check, options
    from dii_hpc.examples.digits import drift_tables

    ref, _, shifted = drift_tables(str(tmp_path))[:3]
    section = check.check_files(ref, shifted, options.from_command_line(None, {})).dump()
    lines = drift_summary(section, "shifted.csv", top=3).splitlines()
    assert lines[0] == (f"shifted.csv: DRIFT ({section['n_drifted']}/64 features drifted, "
                        f"share {section['share_drifted']:.2f}; rule share>=0.5)")
    assert lines[1] == "most drifted features (3 of 64):"
    assert lines[2].split() == ["feature", "test", "statistic", "p-value", "threshold", "drift"]
    features = section["features"]
    worst = sorted(features, key=lambda k: -features[k]["statistic"] / features[k]["threshold"])
    assert [line.split()[0] for line in lines[3:]] == worst[:3]
    assert all(line.split()[-1] == "DRIFT" for line in lines[3:])
