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
        "missing from renamed.csv: y": [*one, "renamed.csv"],
        "empty.csv: empty batch": [*one, "empty.csv"],
        "blank.csv: empty batch": [*one, "blank.csv"],
        "column 'y' is all NaN": [*one, "nan.csv"],
        "column 'x' has text 'oops' where numbers are expected (row 8)": [*one, "text.csv"],
        "unknown monitor 'nope'": ["drift", "check", "--monitor", "nope", "--data", "ref.csv"],
        "no file matches": [*one, "*.missing"],
        "unsupported format": [*one, "ref.txt"],
        "arr.npz: array 'x' has 3 dimensions": [*one, "arr.npz"],
        "give --reference and --current": ["drift", "check", "--reference", "ref.csv",
                                           "--monitor", "m"],
        "unknown drift test 'bogus'": [*one, "ref.csv", "--test", "x=bogus"],
    }


def test_bad_inputs_exit_2_with_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("ref.txt").write_text("x\n1\n")
    for needle, argv in _bad(env).items():
        code, out, err = run(capsys, *argv)
        assert code == 2, (needle, err)
        assert err.count("\n") == 1 and needle in err and "Traceback" not in err, (needle, err)


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
