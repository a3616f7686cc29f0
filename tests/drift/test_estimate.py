"""Performance without labels (dii_hpc/drift/estimate): CBPE and DLE through `drift profile
--target`, `drift check --monitor` (no labels) and `drift score --labels` (labels at the end),
on covariate-shifted sets made with scikit-learn; and the calibration check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.cli.app import main

MODELS = '''
import numpy as np
from sklearn.datasets import make_classification, make_friedman1
from sklearn.linear_model import LinearRegression, LogisticRegression


def classes(n=30000, seed=0):
    return make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=0,
                               class_sep=0.8, flip_y=0.05, random_state=seed)


def values(n=20000, seed=0):
    return make_friedman1(n_samples=n, n_features=5, noise=0.5, random_state=seed)


def classifier():
    x, y = classes()
    return LogisticRegression(max_iter=1000).fit(x[:10000], y[:10000])


def regressor():
    x, y = values()
    return LinearRegression().fit(x[:5000], y[:5000])
'''


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _within(est: dict[str, float], real: dict[str, float]) -> bool:
    """The estimate lies in the realized value's band (3 sampling errors)."""
    return real["lower"] <= est["value"] <= real["upper"]


def test_cbpe_tracks_accuracy_under_covariate_shift(env: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The batch is moved towards the model's uncertain region (P(y|x) unchanged): accuracy
    falls well below the reference's; the estimate, made without labels, alerts, and once the
    labels come the realized accuracy's band holds the estimate."""
    import models  # the test's own module (tmp_path on sys.path)

    x, y = models.classes()
    cols = [f"f{i}" for i in range(x.shape[1])]
    ref = pd.DataFrame(x[10000:15000], columns=cols).assign(label=y[10000:15000])
    ref.to_csv("ref.csv", index=False)
    margin = np.abs(models.classifier().decision_function(x[15000:]))
    keep = np.random.default_rng(1).random(len(margin)) < np.exp(-1.5 * margin)
    pd.DataFrame(x[15000:][keep][:4000], columns=cols).to_csv("batch.csv", index=False)
    hidden = pd.DataFrame({"label": y[15000:][keep][:4000]})
    code, out, err = run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "m",
                         "--model", "models:classifier", "--target", "label")
    assert code == 0, err
    assert "performance without labels: cbpe" in out
    code, out, err = run(capsys, "drift", "check", "--monitor", "m", "--data", "batch.csv",
                         "--json", "check.json", "--chunk-size", "2000")
    doc = json.loads(Path("check.json").read_text())
    perf = doc["performance"]
    assert set(perf["estimated"]) >= {"accuracy", "f1", "roc_auc", "precision", "recall"}
    assert "realized" not in perf or not perf["realized"]
    acc = perf["estimated"]["accuracy"]
    assert acc["lower"] < acc["value"] < acc["upper"] and acc["alert"] is True
    assert code == 1 and "estimated accuracy" in err
    assert [c["key"] for c in perf["chunks"]] == ["rows 0-1999", "rows 2000-3999"]
    assert perf["calibration"]["ok"] is True
    assert "estimated by cbpe" in out
    hidden.to_csv("labels.csv", index=False)  # the labels arrive at the end
    code, out, err = run(capsys, "drift", "score", "--monitor", "m", "--labels", "labels.csv",
                         "--json", "scored.json")
    assert code == 1, err
    scored = json.loads(Path("scored.json").read_text())["performance"]
    real = scored["realized"]["accuracy"]
    reference = scored["reference"]["accuracy"]
    assert reference - real["value"] > 0.05  # the shift really cost accuracy
    for metric in ("accuracy", "f1", "roc_auc"):
        assert _within(scored["estimated"][metric], scored["realized"][metric]), metric
    for chunk in scored["chunks"]:
        assert _within(chunk["estimated"]["accuracy"], chunk["realized"]["accuracy"])
    from dii_hpc.records import drift as records
    from dii_hpc.store.store import Store

    kept = records.read(Store().run(doc["run_id"]))
    assert kept is not None and kept.performance is not None
    assert kept.performance.realized["accuracy"].value == pytest.approx(real["value"])
    assert kept.performance.estimated["accuracy"].value == pytest.approx(acc["value"])


def test_dle_tracks_mae_with_labels_in_the_check(env: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A linear model of a non-linear target; the batch moves feature 0 up, where its errors
    are larger: the estimated MAE and RMSE lie in the bands of the realized ones."""
    import models

    x, y = models.values()
    cols = [f"f{i}" for i in range(x.shape[1])]
    pd.DataFrame(x[5000:10000], columns=cols).assign(target=y[5000:10000]).to_parquet("ref.pq")
    keep = np.random.default_rng(2).random(10000) < x[10000:, 0] ** 2
    pd.DataFrame(x[10000:][keep][:4000], columns=cols).to_parquet("batch.pq")
    pd.DataFrame({"y": y[10000:][keep][:4000]}).to_parquet("labels.pq")
    assert run(capsys, "drift", "profile", "--data", "ref.pq", "--name", "r", "--model",
               "models:regressor", "--target", "target")[0] == 0
    code, out, err = run(capsys, "drift", "check", "--monitor", "r", "--data", "batch.pq",
                         "--labels", "labels.pq", "--json", "check.json")
    perf = json.loads(Path("check.json").read_text())["performance"]
    assert perf["method"] == "dle" and set(perf["estimated"]) == {"mae", "rmse"}
    for metric in ("mae", "rmse"):
        assert _within(perf["estimated"][metric], perf["realized"][metric]), metric
        assert perf["realized"][metric]["value"] > perf["reference"][metric] * 1.05
    assert code == 1 and "realized mae" in err


def test_poor_calibration_is_said(env: Path) -> None:
    """Calibrated scores pass the check; scores whose true probability rises then falls
    (no monotone calibration can fix them) fail it: CBPE's accuracy is off on held-out
    reference rows, and the record says so."""
    from dii_hpc.drift.estimate.cbpe import CBPE

    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 4000)
    good = CBPE.fit((rng.random(4000) < scores).astype(int), scores, np.array([0, 1]))
    assert good.calibration.ok and "poor" not in good.calibration.detail
    humped = (rng.random(4000) < 4 * scores * (1 - scores)).astype(int)
    bad = CBPE.fit(humped, scores, np.array([0, 1]))
    assert not bad.calibration.ok and bad.calibration.ece_raw > 0.3
    assert "calibration poor: estimates may be off" in bad.calibration.detail


def test_time_chunks_and_bad_period(env: Path) -> None:
    """Chunks by calendar period of a timestamp column; a period pandas refuses is one line."""
    from dii_hpc.drift.estimate import bands
    from dii_hpc.errors import BadInput

    frame = pd.DataFrame({"t": pd.date_range("2026-01-01", periods=90, freq="D")})
    parts = bands.parts(frame, 90, None, "M", "t")
    assert [p.key for p in parts] == ["2026-01", "2026-02", "2026-03"]
    assert [len(p.rows) for p in parts] == [31, 28, 31]
    with pytest.raises(BadInput, match="chunk_period"):
        bands.parts(frame, 90, None, "bogus", "t")


def _shifted(models, n_classes: int):
    """(reference frame, batch frame, batch labels, model) for a classifier of ``n_classes``:
    the batch moved towards the model's uncertain region, as above."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=30000, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=n_classes, class_sep=0.8, flip_y=0.05, random_state=3)
    model = LogisticRegression(max_iter=1000).fit(x[:10000], y[:10000])
    cols = [f"f{i}" for i in range(x.shape[1])]
    top2 = np.sort(model.predict_proba(x[15000:]), axis=1)[:, -2:]
    pull = 4.0 if n_classes == 2 else 12.0  # accuracy 0.81 -> 0.66 (two), 0.59 -> 0.52 (three)
    keep = np.random.default_rng(1).random(len(top2)) < np.exp(-pull * (top2[:, 1] - top2[:, 0]))
    ref = pd.DataFrame(x[10000:15000], columns=cols).assign(label=y[10000:15000])
    batch = pd.DataFrame(x[15000:][keep][:4000], columns=cols)
    return ref, batch, y[15000:][keep][:4000], model


def _with_scores(frame: pd.DataFrame, model, columns: list[str]) -> pd.DataFrame:
    # the model saw what a monitor with --model gives it: the features as float32
    feats = frame[[c for c in frame.columns if c.startswith("f")]].to_numpy(np.float32)
    proba = model.predict_proba(feats)
    scored = frame.assign(pred=model.predict(feats))
    for i, col in enumerate(columns):
        scored[col] = proba[:, i if len(columns) > 1 else 1]
    return scored


@pytest.mark.parametrize("n_classes,columns", [(2, ["p1"]), (3, ["p0", "p1", "p2"])])
def test_cbpe_from_stored_scores_needs_no_model_and_gives_the_models_estimate(
        env: Path, capsys: pytest.CaptureFixture[str], n_classes: int, columns: list[str]) -> None:
    """NannyML's CBPE reads the scores a model gave when it ran (y_pred_proba): so does
    `--score-column`. The monitor profiled from the stored predictions and scores, with no
    model, estimates what the monitor with the model estimates, and the labels that come
    later land in its bands."""
    import pickle

    import models

    ref, batch, hidden, model = _shifted(models, n_classes)
    (env / "fitted.pkl").write_bytes(pickle.dumps(model))
    (env / "fitted.py").write_text("import pickle\n\ndef model():\n"
                                   "    return pickle.load(open('fitted.pkl', 'rb'))\n")
    ref.to_csv("ref.csv", index=False)
    batch.to_csv("batch.csv", index=False)
    _with_scores(ref, model, columns).to_csv("ref_scored.csv", index=False)
    _with_scores(batch, model, columns).to_csv("batch_scored.csv", index=False)
    pd.DataFrame({"label": hidden}).to_csv("labels.csv", index=False)
    code, out, err = run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "with-model",
                         "--model", "fitted:model", "--target", "label")
    assert code == 0 and "performance without labels: cbpe" in out, err
    code, out, err = run(capsys, "drift", "profile", "--data", "ref_scored.csv", "--name",
                         "stored", "--prediction-column", "pred",
                         *(a for c in columns for a in ("--score-column", c)), "--target", "label")
    assert code == 0 and "performance without labels: cbpe" in out, err
    docs = {}
    for name, data in (("with-model", "batch.csv"), ("stored", "batch_scored.csv")):
        run(capsys, "drift", "check", "--monitor", name, "--data", data, "--json", f"{name}.json")
        docs[name] = json.loads(Path(f"{name}.json").read_text())
    stored, with_model = docs["stored"]["performance"], docs["with-model"]["performance"]
    assert stored["method"] == "cbpe" and set(stored["estimated"]) >= {"accuracy", "f1"}
    assert not any(c.startswith("p") and len(c) == 2 for c in docs["stored"]["features"])
    for metric, est in with_model["estimated"].items():
        assert stored["estimated"][metric]["value"] == pytest.approx(est["value"], abs=1e-9)
    assert stored["estimated"]["accuracy"]["alert"] is True  # the shift costs accuracy
    code, out, err = run(capsys, "drift", "score", "--monitor", "stored", "--labels",
                         "labels.csv", "--json", "scored.json")
    scored = json.loads(Path("scored.json").read_text())["performance"]
    assert scored["reference"]["accuracy"] - scored["realized"]["accuracy"]["value"] > 0.05
    if n_classes == 2:  # three classes: this model is miscalibrated where the batch moved
        # (raw expected accuracy 0.46, calibrated 0.47, realized 0.52), with or without a model
        assert _within(scored["estimated"]["accuracy"], scored["realized"]["accuracy"])


def test_score_columns_that_do_not_fit_the_classes_are_one_line(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import models

    ref, _, _, model = _shifted(models, 2)
    _with_scores(ref, model, ["p0", "p1"]).to_csv("ref.csv", index=False)
    for given, words in ((["p0", "p1", "p0"], "3 score column(s) for 2 classes"),
                         (["p9"], "no score column 'p9'")):
        code, out, err = run(capsys, "drift", "profile", "--data", "ref.csv", "--name", "bad",
                             "--prediction-column", "pred",
                             *(a for c in given for a in ("--score-column", c)),
                             "--target", "label")
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
