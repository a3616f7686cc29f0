"""LiRA/RMIA/dp_canary through the CLI: bad input, thresholds and JUnit, the level I suite,
the audit page (log-log ROC, the loss baseline, the most exposed records)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.audit.privacy import suite as privacy_suite
from tests.audit.conftest import cli

SKLEARN = ["--model", "dii_hpc.examples.tabular:breast_cancer_sklearn",
           "--data", "dii_hpc.examples.tabular:breast_cancer_data"]
NOISY_DATA = ["--data", "dii_hpc.examples.tabular:noisy_data"]


def frozen_model() -> Any:
    """A torch model with no trainer: it cannot be retrained (no `fit`)."""
    from dii_hpc.audit.model.wrappers import TorchModelWrapper
    from dii_hpc.examples.tabular import build_mlp

    return TorchModelWrapper(build_mlp(20, 2, 8), task="tabular_classification",
                             input_shape=(20,), nb_classes=2)


@pytest.mark.parametrize("args,message", [
    (["lira", "--model", "tests.audit.test_reference_attacks:frozen_model", *NOISY_DATA],
     "attack lira (its 16 reference models retrain with the model's own trainer) needs "
     "model.fit(...) but TorchModelWrapper does not implement it (missing: fit)"),
    (["dp_canary", "--model", "tests.audit.test_reference_attacks:frozen_model", *NOISY_DATA],
     "needs model.fit(...)"),
    (["rmia", *SKLEARN, "-p", "n_reference=1"], "n_reference=1 must be an integer >= 2"),
    (["lira", *SKLEARN, "-p", "n_reference=400"],
     "the population (train + held-out data) has 569 records, too few for n_reference=400"),
    (["lira", *SKLEARN, "-p", "variance=none"], "variance='none' must be one of auto, "),
    (["lira", *SKLEARN, "-p", "offline_a=2"], "unknown parameter(s) offline_a"),
    (["rmia", *SKLEARN, "-p", "offline_a=2"], "offline_a=2 must lie in [0, 1]"),
    (["mi_loss", *SKLEARN, "--executor", "slurm"], "--executor slurm: attack mi_loss runs "
     "in-process"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, store_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("audit", "attack", *args, "--no-store") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (store_path / "cache").exists()  # refused before any model was trained


def test_level_two_thresholds_junit_and_reuse(tmp_path: Path, store_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out, junit = tmp_path / "lira.json", tmp_path / "lira.xml"
    code = cli("audit", "attack", "lira", *SKLEARN, "-p", "n_reference=4", "--json", str(out),
               "--junit", str(junit), "--fail-over", "tpr_at_0.1pct_fpr=1.5",
               "--fail-over", "auc=0.01", "--fail-under", "tpr_at_0pct_fpr=0")
    assert code == 1  # auc above 0.01: breached
    result = json.loads(out.read_text())
    m = result["metrics"]
    for key in ("auc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "tpr_at_0pct_fpr",
                "baseline_auc", "baseline_tpr_at_1pct_fpr"):
        assert 0.0 <= m[key] <= 1.0
    assert result["reference_training"]["trained"] == 4
    assert result["curves"]["roc"]["axes"] == "log" and result["curves"]["roc"]["baseline"]
    assert len(result["exposed"]) == 10 and result["attacks"][0]["seeds"]
    text = junit.read_text()
    assert 'name="auc &lt;= 0.01"' in text and text.count("<failure") == 1
    assert "threshold auc" in capsys.readouterr().out
    again = tmp_path / "rmia.json"
    assert cli("audit", "attack", "rmia", *SKLEARN, "-p", "n_reference=4", "--json",
               str(again), "--no-store") == 0
    training = json.loads(again.read_text())["reference_training"]
    assert (training["trained"], training["reused"]) == (0, 4)  # LiRA's models serve RMIA


def test_the_suite_adds_lira_and_rmia_when_the_model_has_fit(store_path: Path) -> None:
    from dii_hpc.examples.tabular import breast_cancer_data, breast_cancer_sklearn

    data = breast_cancer_data()
    from dii_hpc.audit.job import of

    job = of({"model": SKLEARN[1], "params": {"n_reference": 4}}, "I", "privacy")
    out = privacy_suite.run_suite(breast_cancer_sklearn(), data.get_train_data(),
                                  data.get_test_data(), n=80, job=job,
                                  attacks=["mi_loss", "lira", "rmia"])
    assert [r["name"] for r in out["attacks"]] == ["mi_loss", "lira", "rmia"]
    assert "reference_attacks" not in {f["flag"] for f in out["sanity"]}
    frozen = privacy_suite.run_suite(frozen_model(), *_noisy(), n=40,
                                     job=of({"model": "x:y"}, "I", "privacy"),
                                     attacks=["mi_loss", "lira"])
    assert [r["name"] for r in frozen["attacks"]] == ["mi_loss"]
    flag = {f["flag"]: f for f in frozen["sanity"]}["reference_attacks"]
    assert not flag["ok"] and "model.fit(x, y)" in flag["detail"]


def _noisy() -> tuple[Any, Any]:
    from dii_hpc.examples.tabular import noisy_data

    data = noisy_data()
    return data.get_train_data(), data.get_test_data()


def test_the_audit_page_draws_the_log_log_roc_and_the_exposed_records(
        store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("audit", "attack", "rmia", *SKLEARN, "-p", "n_reference=4",
               "--experiment", "privacy") == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    assert cli("report", "build") == 0
    page = next((store_path / "site").rglob(f"*{run_id}*audit*.html"), None) or next(
        p for p in (store_path / "site").rglob("*.html") if "Most exposed records" in
        p.read_text())
    html = page.read_text()
    assert "ROC on log-log axes" in html and "baseline mi_loss" in html
    assert "Most exposed records (rmia)" in html and html.count("<svg") >= 2
    assert "http" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
