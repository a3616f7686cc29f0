"""--monitor: drift of inputs and predictions stored in the monitor's history after the job;
`predict score --labels` adds accuracy/F1 to the monitor's trend and to the inference run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc import Store
from dii_hpc.cli.app import main
from dii_hpc.drift.monitor import profile
from dii_hpc.drift.options import DriftOptions
from dii_hpc.inference import demo, output
from tests.inference.conftest import MODEL, plain_loop


def _noisy_labels(pred: np.ndarray, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flip = rng.random(len(pred)) < share
    return np.where(flip, (pred + 1) % 3, pred)


@pytest.fixture()
def monitor(store_path: Path, tmp_path: Path) -> str:
    """Monitor 'demo-prod': reference inputs + the model's predictions + labels (90% right)."""
    x = demo.make_rows(3000, seed=10)
    pred = plain_loop(x, 1024).argmax(axis=1)
    frame = pd.DataFrame(x, columns=demo.COLUMNS)
    frame["prediction"] = pred
    frame.to_parquet(tmp_path / "ref.parquet", index=False)
    pd.DataFrame({"label": _noisy_labels(pred, 0.1, 0)}).to_csv(tmp_path / "ref_y.csv", index=False)
    profile(Store(), "demo-prod", str(tmp_path / "ref.parquet"),
            DriftOptions(prediction_column="prediction"), labels=str(tmp_path / "ref_y.csv"))
    return "demo-prod"


def test_monitor_after_job_and_score(monitor: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    store = Store()
    demo.write_data(tmp_path / "ok", 3000, files=2, fmt="parquet", seed=11)
    code = main(["predict", "--model", MODEL, "--data", str(tmp_path / "ok" / "*"), "--out",
                 str(tmp_path / "p_ok"), "--executor", "debug", "--shards", "2", "--monitor", monitor])
    text = capsys.readouterr().out
    assert code == 0 and f"monitor {monitor}: no drift" in text
    demo.write_data(tmp_path / "shift", 3000, files=1, fmt="parquet", seed=12, shift=0.7)
    code = main(["predict", "--model", MODEL, "--data", str(tmp_path / "shift" / "*"), "--out",
                 str(tmp_path / "p_shift"), "--executor", "debug", "--monitor", monitor,
                 "--fail-on-drift"])
    captured = capsys.readouterr()
    assert code == 1 and f"monitor {monitor}: DRIFT" in captured.out and "drift found" in captured.err

    checks = store.runs(experiment=monitor, kind="drift").sort_values("start_time")
    assert list(checks["tags.verdict"]) == ["ok", "drift"]
    inf = store.runs(experiment="inference", kind="inference").sort_values("start_time")
    last = store.run(inf.iloc[-1]["run_id"])["inference"]
    assert last["monitor"] == monitor and last["last_drift"]["drift"] is True
    assert last["last_drift"]["run"] == checks.iloc[-1]["run_id"]

    # labels arrive: 90% right on the good batch (as the reference), 40% on the shifted one
    pred_ok = output.read_outputs(tmp_path / "p_ok")["prediction"]
    pd.DataFrame({"label": _noisy_labels(pred_ok, 0.1, 1)}).to_csv(tmp_path / "y_ok.csv", index=False)
    assert main(["predict", "score", "--labels", str(tmp_path / "y_ok.csv"),
                 "--out", str(tmp_path / "p_ok")]) == 0
    assert "score: 3000 rows (classification): accuracy 0.8" in capsys.readouterr().out
    pred_sh = output.read_outputs(tmp_path / "p_shift")["prediction"]
    pd.DataFrame({"y": _noisy_labels(pred_sh, 0.6, 2)}).to_csv(tmp_path / "y_sh.csv", index=False)
    code = main(["predict", "score", "--labels", str(tmp_path / "y_sh.csv"),
                 "--out", str(tmp_path / "p_shift")])
    assert code == 1 and "accuracy" in capsys.readouterr().err

    trend = store.runs(experiment=monitor, kind="drift").sort_values("start_time")
    acc = trend["metrics.accuracy"].dropna().to_list()
    assert len(acc) == 2 and 0.85 < acc[0] < 0.95 and acc[1] < 0.5
    scored = store.run(inf.iloc[-1]["run_id"])["inference"]
    assert scored["performance"]["accuracy"] == pytest.approx(acc[1])


def test_score_without_monitor_and_label_count_mismatch(
        store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo.write_data(tmp_path / "d", 500, fmt="csv")
    assert main(["predict", "--model", MODEL, "--data", str(tmp_path / "d" / "*"), "--out",
                 str(tmp_path / "p"), "--executor", "debug"]) == 0
    pred = output.read_outputs(tmp_path / "p")["prediction"]
    pd.DataFrame({"label": pred}).to_csv(tmp_path / "y.csv", index=False)
    capsys.readouterr()
    assert main(["predict", "score", "--labels", str(tmp_path / "y.csv"), "--out", str(tmp_path / "p")]) == 0
    assert "accuracy 1" in capsys.readouterr().out
    pd.DataFrame({"label": pred[:10]}).to_csv(tmp_path / "y10.csv", index=False)
    code = main(["predict", "score", "--labels", str(tmp_path / "y10.csv"), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "10 labels for 500 predictions" in err


def test_monitor_sample_covers_every_shard() -> None:
    from dii_hpc.inference.drift_check import sample_ranges

    man = {"rows": 1_000_000, "shards": [[i * 250_000, (i + 1) * 250_000] for i in range(4)]}
    assert sample_ranges(man, cap=1000) == [(0, 250), (250_000, 250_250), (500_000, 500_250),
                                            (750_000, 750_250)]
    assert sample_ranges({"rows": 10, "shards": [[0, 10]]}) == [(0, 10)]


@pytest.fixture()
def model_monitor(store_path: Path, tmp_path: Path) -> str:
    """Monitor 'demo-model': reference inputs and the model (embeddings, CBPE estimate)."""
    x = demo.make_rows(3000, seed=10)
    pd.DataFrame(x, columns=demo.COLUMNS).to_parquet(tmp_path / "mref.parquet", index=False)
    profile(Store(), "demo-model", str(tmp_path / "mref.parquet"), DriftOptions(),
            model_spec=MODEL)
    return "demo-model"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["monitor", "model_monitor"])
def test_monitor_after_job_sees_every_row(which: str, tmp_path: Path,
                                          request: pytest.FixtureRequest,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """300,000 rows in 2 shards whose last third drifts: a head sample of each shard (200,000
    rows) would see none of it; the sketches of every row do (with a model too: its
    embeddings and prediction drift keep the head sample, they need rows)."""
    from dii_hpc.inference.drift_check import MONITOR_ROWS

    monitor = request.getfixturevalue(which)

    n = 300_000
    assert n > MONITOR_ROWS
    x = demo.make_rows(n, seed=21)
    for a in (100_000, 250_000):  # the tail of shard 0 ([0, 150k)) and of shard 1
        x[a:a + 50_000] += 1.5
    pd.DataFrame(x, columns=demo.COLUMNS).to_parquet(tmp_path / "big.parquet", index=False)
    code = main(["predict", "--model", MODEL, "--data", str(tmp_path / "big.parquet"), "--out",
                 str(tmp_path / "p_big"), "--executor", "debug", "--shards", "2",
                 "--batch-size", "8192", "--monitor", monitor])
    assert code == 0 and f"monitor {monitor}: DRIFT" in capsys.readouterr().out
    store = Store()
    check = store.runs(experiment=monitor, kind="drift").iloc[-1]
    section = store.run(check["run_id"])["drift"]
    assert section["n_current"] == n and section["sketch"]["k"] == 400
    assert all(f["n_current"] == n for f in section["features"].values())
    assert section["data_drift"] is True and section["data_quality"]
    if which == "monitor":
        assert section["prediction"]["n_current"] == n
    else:  # the sample's parts
        assert section["prediction"]["n_current"] == MONITOR_ROWS
        assert "embedding_mmd" in section["multivariate"]
