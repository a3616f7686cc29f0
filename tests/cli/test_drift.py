"""`dii-hpc drift ...` (cli/drift.py) end to end, in process: exit codes, one-line errors, JSON,
stored runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.cli.app import main


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def table(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "y": rng.normal(shift, 1, n),
                         "z": rng.choice(["a", "b"], n)})


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_off_check_exit_codes_json_and_run(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table(500, 1).to_csv("ref.csv", index=False)
    table(500, 2).to_parquet("same.parquet")
    table(500, 3, shift=0.6).to_csv("moved.csv", index=False)
    code, out, err = run(capsys, "drift", "check", "--reference", "ref.csv", "--current",
                         "same.parquet", "--json", "ok.json")
    assert code == 0, err
    assert "verdict: no drift" in out
    doc = json.loads(Path("ok.json").read_text())
    assert doc["drift"] is False and set(doc["features"]) == {"x", "y", "z"}
    assert set(doc["features"]["x"]) >= {"test", "statistic", "p_value", "threshold", "drift"}
    code, out, err = run(capsys, "drift", "check", "--reference", "ref.csv", "--current",
                         "moved.csv", "--json", "bad.json", "--on-drift-audit", "no-audit.yaml")
    assert code == 1 and err.count("\n") == 1 and "drift found" in err
    bad = json.loads(Path("bad.json").read_text())
    # the alert started `dii-hpc audit run no-audit.yaml`, which refused the missing config
    assert bad["audit"]["exit_code"] == 2 and bad["audit"]["command"][-2] == "--parent-run"
    assert bad["share_drifted"] == pytest.approx(2 / 3)
    from dii_hpc.store.store import Store

    runs = Store().runs(experiment="drift", kind="drift").set_index("run_id")
    assert len(runs) == 2
    for d in (doc, bad):
        assert runs.loc[d["run_id"], "metrics.n_drifted"] == d["n_drifted"]
        assert runs.loc[d["run_id"], "metrics.drift"] == float(d["drift"])
    rec = Store().run(doc["run_id"])
    assert rec["kind"] == "drift" and rec["drift"]["features"]["x"]["test"] == "ks"
    assert Store().run(bad["run_id"])["drift"]["audit"]["exit_code"] == 2


def _bad(env: Path) -> dict[str, list[str]]:
    ref = table(50, 1)
    ref.to_csv("ref.csv", index=False)
    ref.rename(columns={"y": "w"}).to_csv("renamed.csv", index=False)
    ref.iloc[:0].to_csv("empty.csv", index=False)
    Path("blank.csv").write_text("")
    nan = ref.copy()
    nan["y"] = np.nan
    nan.to_csv("nan.csv", index=False)
    text = ref.astype({"x": object})
    text.loc[7, "x"] = "oops"
    text.to_csv("text.csv", index=False)
    np.savez("arr.npz", x=np.zeros((3, 2, 2)))
    one = ["drift", "check", "--reference", "ref.csv", "--current"]
    return {
        "empty.csv: empty batch": [*one, "empty.csv"],
        "blank.csv: empty batch": [*one, "blank.csv"],
        "nan.csv: column 'y' is all NaN": ["drift", "check", "--reference", "nan.csv",
                                           "--current", "ref.csv"],
        "unknown monitor 'nope'": ["drift", "check", "--monitor", "nope", "--data", "ref.csv"],
        "no file matches": [*one, "*.missing"],
        "unsupported format": [*one, "ref.txt"],
        "arr.npz: array 'x' has 3 dimensions": [*one, "arr.npz"],
        "give --reference and --current": ["drift", "check", "--reference", "ref.csv",
                                           "--monitor", "m"],
        "--test bogus: not a drift test (choose from chisquare, jensenshannon, ks, psi, "
        "wasserstein)": [*one, "ref.csv", "--test", "x=bogus"],
    }


def test_bad_inputs_exit_2_with_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("ref.txt").write_text("x\n1\n")
    for needle, argv in _bad(env).items():
        code, out, err = run(capsys, *argv)
        assert code == 2, (needle, err)
        assert err.count("\n") == 1 and needle in err and "Traceback" not in err, (needle, err)
    # #30: a renamed column, a column gone missing, text in numbers: data-quality rules (exit 1)
    one = ["drift", "check", "--reference", "ref.csv", "--current"]
    for current, rules in (("renamed.csv", "schema(y), schema(w)"),
                           ("nan.csv", "missing_share(y)"), ("text.csv", "type(x)")):
        code, out, err = run(capsys, *one, current)
        assert code == 1 and f"data quality: {rules}" in err, (current, err)


def test_monitor_with_predictions_and_labels(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    ref = table(600, 1)
    ref["pred"] = (ref["x"] > 0).astype(int)
    ref.to_parquet("ref.parquet")
    pd.DataFrame({"label": (ref["x"] > 0).astype(int)}).to_csv("ref_labels.csv", index=False)
    code, out, err = run(capsys, "drift", "profile", "--data", "ref.parquet", "--name", "churn",
                         "--prediction-column", "pred", "--labels", "ref_labels.csv")
    assert code == 0, err
    assert (env / "store/monitors/churn/profile.json").is_file()
    cur = table(600, 2)
    cur["pred"] = (cur["x"] > 0).astype(int)
    Path("batches").mkdir()
    cur.to_csv("batches/day1.csv", index=False)
    flip = rng.random(600) < 0.3  # the model is now wrong on ~30% of rows: performance drift
    labels = np.where(flip, 1 - cur["pred"], cur["pred"])
    pd.DataFrame({"label": labels}).to_csv("labels.csv", index=False)
    code, out, err = run(capsys, "drift", "check", "--monitor", "churn", "--data", "batches/*.csv",
                         "--json", "r.json")
    assert code == 0, err
    doc = json.loads(Path("r.json").read_text())
    assert doc["monitor"] == "churn" and "pred" not in doc["features"]
    assert doc["prediction"]["test"] == "chisquare" and doc["prediction"]["drift"] is False
    code, out, err = run(capsys, "drift", "check", "--monitor", "churn", "--data", "batches/*.csv",
                         "--labels", "labels.csv", "--json", "r.json")
    assert code == 1 and "performance: accuracy" in err
    perf = json.loads(Path("r.json").read_text())["performance"]
    assert perf["reference"]["accuracy"] == 1.0 and perf["current"]["accuracy"] < 0.8
    code, out, _ = run(capsys, "drift", "history", "churn")
    assert out.count("churn") == 0 and len(out.splitlines()) == 2 and "DRIFT" in out.splitlines()[1]


def test_schedule_prints_a_cron_entry(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table(50, 1).to_csv("ref.csv", index=False)
    assert run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "m")[0] == 0
    code, out, err = run(capsys, "drift", "schedule", "m", "--every", "6h", "--data-glob",
                         "/data/*.csv", "--cron", "--on-drift-audit", "audit.yaml")
    assert code == 0, err
    line = [x for x in out.splitlines() if not x.startswith("#")]
    assert len(line) == 1 and " */6 * * * " in line[0]
    assert "drift check --monitor m --data '/data/*.csv'" in line[0]
    assert "--on-drift-audit" in line[0] and str(env / "store") in line[0]
    code, _, err = run(capsys, "drift", "schedule", "other", "--data-glob", "x")
    assert code == 2 and "unknown monitor 'other'" in err
    code, out, _ = run(capsys, "drift", "schedule", "m", "--data-glob", "batches/*.csv", "--cron")
    assert code == 0 and f"--data '{env}/batches/*.csv'" in out


def test_a_directory_and_a_bad_cron_field_are_named(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """#14 item 12: `--current DIR` said "no such file"; `--every "61 * * * *"` was accepted."""
    table(100, 1).to_csv("ref.csv", index=False)
    Path("batches").mkdir()
    code, _, err = run(capsys, "drift", "check", "--reference", "ref.csv", "--current", "batches")
    assert code == 2 and "batches: is a directory; give a file or a glob such as 'batches/*.csv'" in err
    assert run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "m")[0] == 0
    for every, needle in (("61 * * * *", "minute 61 is outside 0-59"),
                          ("0 24 * * *", "hour 24 is outside 0-23"),
                          ("0 0 0 * *", "day of month 0 is outside 1-31"),
                          ("0 0 * 13 *", "month 13 is outside 1-12"),
                          ("0 0 * * 8", "day of week 8 is outside 0-7"),
                          ("*/0 * * * *", "minute */0: a step must be at least 1"),
                          ("a * * * *", "minute 'a' is not a number, range or list")):
        code, _, err = run(capsys, "drift", "schedule", "m", "--every", every, "--data-glob", "x*")
        assert code == 2 and f"--every {every!r}: {needle}" in err and err.count("\n") == 1, err
    code, out, err = run(capsys, "drift", "schedule", "m", "--every", "*/15 0-5,22 1 jan-mar mon-fri",
                         "--data-glob", "x*")
    assert code == 0, err


def test_a_column_that_changed_type_blames_the_current_file(env: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """#14 item 14: the message named the reference (or the monitor) when the current file, the
    one a glob picked, had changed a column's type."""
    ref = table(100, 1)
    ref.to_csv("ref.csv", index=False)
    numbers = table(100, 2)
    numbers["z"] = np.arange(100)         # categorical in the reference, numbers now
    Path("batches").mkdir()
    numbers.to_csv("batches/day1.csv", index=False)
    texts = table(100, 3)
    texts["x"] = "oops"                   # numbers in the reference, text now
    texts.to_csv("batches/day2.csv", index=False)
    code, out, err = run(capsys, "drift", "check", "--reference", "ref.csv", "--current", "batches/day1.csv")
    # #30: a type change is the `type` rule's failure (exit 1), its detail naming the reference
    assert code == 1 and "data quality: type(z)" in err, err
    assert "holds numbers where ref.csv has text ('a')" in out
    assert run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "m")[0] == 0
    code, out, err = run(capsys, "drift", "check", "--monitor", "m", "--data", "batches/day1*.csv")
    assert code == 1 and "holds numbers where monitor m has text" in out
    code, out, err = run(capsys, "drift", "check", "--monitor", "m", "--data", "batches/day2*.csv")
    assert code == 1 and "has text 'oops' where numbers are expected" in out


def test_a_bad_drift_config_is_named_at_load(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """#27: `alpha: abc` said "'<' not supported between instances of ..." and a string
    threshold passed the load, to fail in the middle of the check (exit 3). Every bad value is
    now one line at load time, with the file, line and key, or the option typed."""
    table(200, 1).to_csv("ref.csv", index=False)
    table(200, 2).to_csv("cur.csv", index=False)
    one = ["drift", "check", "--reference", "ref.csv", "--current", "cur.csv", "--no-store"]
    for text, needle in (
            ("drift:\n  alpha: abc\n", "drift.yaml:2: drift.alpha: 'abc' is not a number"),
            ("drift:\n  large_sample: 10\n  wasserstein_threshold: high\n",
             "drift.yaml:3: drift.wasserstein_threshold: 'high' is not a number"),
            ("alpha: 0.01\npsi_threshold: '0.2'\n", "drift.yaml:2: psi_threshold: '0.2' is not a number"),
            ("drift:\n  rule: median\n", "drift.yaml:2: drift.rule: 'median' must be one of 'share', "
                                         "'mmd' or 'classifier'"),
            ("drift:\n  tests:\n    x: nope\n", "drift.yaml:3: drift.tests.x: 'nope' is not a drift test")):
        Path("drift.yaml").write_text(text)
        for argv in (one, ["drift", "profile", "--data", "ref.csv", "--name", "m"]):
            code, _, err = run(capsys, *argv, "--config", "drift.yaml")
            assert code == 2 and err.count("\n") == 1 and needle in err, (text, err)
    for option, needle in ((["--alpha", "2"], "--alpha 2.0: must be less than 1"),
                           (["--rule", "median"], "--rule median: must be one of 'share'"),
                           (["--correction", "holm"], "--correction holm: must be one of"),
                           (["--drift-share", "1.5"], "--drift-share 1.5: must be at most 1")):
        code, _, err = run(capsys, *one, *option)
        assert code == 2 and err.count("\n") == 1 and needle in err, (option, err)
    Path("drift.yaml").write_text("drift:\n  large_sample: 10\n  wasserstein_threshold: 0.5\n")
    code, out, err = run(capsys, *one, "--config", "drift.yaml")
    assert code == 0 and " wasserstein " in out and " 0.5 " in out, err


def test_a_monitors_saved_options_are_read_by_the_same_model(env: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A profile.json's options go through the options model: a profile of 5e6d470 (every key,
    per-test thresholds as `<test>_threshold`) still checks; a damaged one is named."""
    table(300, 1).to_csv("ref.csv", index=False)
    table(300, 2).to_csv("cur.csv", index=False)
    assert run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "m")[0] == 0
    path = env / "store/monitors/m/profile.json"
    prof = json.loads(path.read_text())
    old = {"alpha": 0.05, "wasserstein_threshold": 0.1, "jensenshannon_threshold": 0.1,
           "psi_threshold": 0.1, "large_sample": 1000, "few_values": 5, "correction": None,
           "rule": "share", "drift_share": 0.5, "tests": {"y": "psi"}, "categorical": [],
           "ignore": [], "prediction_column": None, "mmd": False, "classifier": False,
           "mmd_subsample": 1000, "mmd_permutations": 200, "classifier_subsample": 5000,
           "performance_max_drop": 0.05, "seed": 0}
    path.write_text(json.dumps({**prof, "options": old}))
    code, _, err = run(capsys, "drift", "check", "--monitor", "m", "--data", "cur.csv",
                       "--json", "r.json")
    assert code == 0, err
    doc = json.loads(Path("r.json").read_text())
    assert doc["features"]["y"]["test"] == "psi" and doc["features"]["x"]["threshold"] == 0.05
    path.write_text(json.dumps({**prof, "options": {**old, "alpha": "abc"}}))
    code, _, err = run(capsys, "drift", "check", "--monitor", "m", "--data", "cur.csv")
    assert code == 2 and err.count("\n") == 1, err
    assert f"{path}: options.alpha: 'abc' is not a number" in err


def test_drift_tests_lists_the_installed_tests(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "drift", "tests")
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert set(rows) >= {"ks", "chisquare", "wasserstein", "jensenshannon", "psi"}
    assert rows["ks"][1:6] == ["numeric", "p", "<", "0.05", "dii-hpc"]
    assert rows["psi"][1:5] == ["categorical,numeric", ">=", "0.1", "dii-hpc"]
