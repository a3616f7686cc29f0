"""Benchmark: dii-hpc's performance estimates without labels vs NannyML's on the same data (#30).

CBPE (binary and 3-class classifiers, scikit-learn logistic regressions) and DLE (a linear
regression of a non-linear target), each on a covariate-shifted analysis set of scikit-learn
data cut into chunks of 2,000 rows. dii-hpc runs in this process (`dii_hpc.drift.estimate`);
NannyML runs in its own virtualenv (never installed into dii-hpc's), default settings, the
same chunks. Printed and written to reports/benchmarks_monitor.md: per metric the largest
|dii-hpc - NannyML| over the chunks (target: within 0.01), the realized values for scale,
and the wall time of each side.

    python3 -m venv /work/envs/nannyml && /work/envs/nannyml/bin/pip install nannyml
    .venv/bin/python benchmarks/bench_monitor_estimate.py [--nannyml /work/envs/nannyml/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPORT = Path(__file__).resolve().parents[1] / "reports" / "benchmarks_monitor.md"
CHUNK = 2000

NANNYML = r'''
import json, sys, time
import numpy as np, pandas as pd
import nannyml as nml
job = json.loads(sys.argv[1])
ref, ana = pd.read_parquet(job["ref"]), pd.read_parquet(job["ana"])
t0 = time.perf_counter()
if job["kind"] == "binary":
    est = nml.CBPE(y_pred_proba="p1", y_pred="pred", y_true="y", chunk_size=job["chunk"],
                   problem_type="classification_binary",
                   metrics=["accuracy", "precision", "recall", "f1", "roc_auc"])
elif job["kind"] == "multiclass":
    classes = job["classes"]
    est = nml.CBPE(y_pred_proba={c: f"p{c}" for c in classes}, y_pred="pred", y_true="y",
                   chunk_size=job["chunk"], problem_type="classification_multiclass",
                   metrics=["accuracy", "precision", "recall", "f1", "roc_auc"])
else:
    est = nml.DLE(feature_column_names=job["features"], y_pred="pred", y_true="y",
                  chunk_size=job["chunk"], metrics=["mae", "rmse"])
est.fit(ref)
frame = est.estimate(ana).filter(period="analysis").to_df()
secs = time.perf_counter() - t0
out = {}
for metric in job["metrics"]:
    out[metric] = [float(v) for v in frame[(metric, "value")]]
print(json.dumps({"values": out, "seconds": secs}))
'''


def _classes(n_classes: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=60000, n_features=8, n_informative=5, n_redundant=0,
                               n_classes=n_classes, class_sep=0.8, flip_y=0.05, random_state=0)
    model = LogisticRegression(max_iter=2000).fit(x[:10000], y[:10000])
    proba = model.predict_proba(x)
    margin = np.sort(proba, axis=1)[:, -1] - np.sort(proba, axis=1)[:, -2]
    keep = np.zeros(len(x), bool)
    keep[:20000] = True                      # 10,000 training + 10,000 reference rows
    rng = np.random.default_rng(1)
    keep[20000:] = rng.random(40000) < np.exp(-2.0 * margin[20000:])  # towards uncertainty
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    for c in range(n_classes):
        frame[f"p{c}"] = proba[:, c]
    frame["pred"], frame["y"] = model.predict(x), y
    ref, ana = frame.iloc[10000:20000], frame[keep].iloc[20000:].iloc[:10000]
    return ref.reset_index(drop=True), ana.reset_index(drop=True), {"classes": list(range(n_classes))}


def _values() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    from sklearn.datasets import make_friedman1
    from sklearn.linear_model import LinearRegression

    x, y = make_friedman1(n_samples=60000, n_features=5, noise=0.5, random_state=0)
    model = LinearRegression().fit(x[:10000], y[:10000])
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame["pred"], frame["y"] = model.predict(x), y
    keep = np.random.default_rng(2).random(40000) < x[20000:, 0] ** 2
    ana = frame.iloc[20000:][keep].iloc[:10000]
    return frame.iloc[10000:20000].reset_index(drop=True), ana.reset_index(drop=True), \
        {"features": [f"f{i}" for i in range(5)]}


def ours(kind: str, ref: pd.DataFrame, ana: pd.DataFrame,
         job: dict[str, Any]) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    """(estimated, realized) per chunk with dii-hpc's estimators, and the seconds taken."""
    from dii_hpc.drift.estimate import bands, cbpe, dle

    parts = bands.parts(ana, len(ana), CHUNK, None, None)
    t0 = time.perf_counter()
    if kind == "regression":
        feats = job["features"]
        model = dle.DLE.fit(ref[feats], ref["y"].to_numpy(), ref["pred"].to_numpy(), seed=0)
        expected = model.expected(ana[feats], ana["pred"].to_numpy())
        realized = dle.realized(ana["y"].to_numpy(), ana["pred"].to_numpy())
    else:
        cols = [f"p{c}" for c in job["classes"]]
        classes = np.array(job["classes"])
        fitted = cbpe.CBPE.fit(ref["y"].to_numpy(), ref[cols].to_numpy(), classes, seed=42)
        expected = fitted.expected(ana["pred"].to_numpy(), ana[cols].to_numpy())
        realized = cbpe.realized(classes, ana["y"].to_numpy(), ana["pred"].to_numpy(),
                                 ana[cols].to_numpy())
    est = [expected(p.rows) for p in parts]
    secs = time.perf_counter() - t0
    real = [realized(p.rows) for p in parts]
    keys = est[0].keys()
    return ({k: [e[k] for e in est] for k in keys}, {k: [r[k] for r in real] for k in keys}, secs)


def theirs(python: str, kind: str, ref: pd.DataFrame, ana: pd.DataFrame, job: dict[str, Any],
           metrics: list[str]) -> tuple[dict[str, list[float]], float]:
    with tempfile.TemporaryDirectory() as tmp:
        ref.to_parquet(Path(tmp) / "ref.parquet")
        ana.to_parquet(Path(tmp) / "ana.parquet")
        nk = "regression" if kind == "regression" else ("binary" if len(job["classes"]) == 2
                                                        else "multiclass")
        spec = {**job, "ref": f"{tmp}/ref.parquet", "ana": f"{tmp}/ana.parquet", "kind": nk,
                "chunk": CHUNK, "metrics": metrics}
        res = subprocess.run([python, "-c", NANNYML, json.dumps(spec)], capture_output=True,
                             text=True, check=False)
        if res.returncode:
            raise SystemExit(f"NannyML failed:\n{res.stderr[-3000:]}")
        doc = json.loads(res.stdout.strip().splitlines()[-1])
        return doc["values"], doc["seconds"]


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} {platform.machine().replace('_', '-')} cores, {mem:.0f} GiB, "
            f"Python {platform.python_version()}, CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nannyml", default="/work/envs/nannyml/bin/python")
    args = parser.parse_args()
    version = subprocess.run([args.nannyml, "-c", "import nannyml; print(nannyml.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    cases = [("binary CBPE", "classification", *_classes(2),
              ["accuracy", "precision", "recall", "f1", "roc_auc"]),
             ("3-class CBPE", "classification", *_classes(3),
              ["accuracy", "precision", "recall", "f1", "roc_auc"]),
             ("DLE", "regression", *_values(), ["mae", "rmse"])]
    rows, worst = [], 0.0
    for name, kind, ref, ana, job, metrics in cases:
        est, real, t_ours = ours(kind, ref, ana, job)
        nml, t_nml = theirs(args.nannyml, kind, ref, ana, job, metrics)
        for m in metrics:
            diff = float(np.max(np.abs(np.array(est[m]) - np.array(nml[m]))))
            scale = float(np.mean(real[m]))
            worst = max(worst, diff if kind != "regression" else diff / scale)
            rows.append(f"| {name} | {m} | {len(est[m])} | {np.mean(est[m]):.4f} | "
                        f"{np.mean(nml[m]):.4f} | {np.mean(real[m]):.4f} | {diff:.4f}"
                        + (f" ({diff / scale:.2%})" if kind == "regression" else "") + " |")
        rows.append(f"| {name} | *seconds (fit + estimate)* | | {t_ours:.2f} | {t_nml:.2f} | | |")
    lines = [_machine(), "",
             f"## Performance without labels vs NannyML {version} (issue 30)", "",
             f"Covariate-shifted analysis sets (10,000 rows, chunks of {CHUNK}) of scikit-learn "
             "data; reference 10,000 labelled rows. Values are means over the chunks; "
             "'max diff' is the largest |dii-hpc - NannyML| of one chunk (for DLE also as a "
             "share of the realized value: NannyML fits LightGBM, dii-hpc scikit-learn's "
             "histogram boosting in LightGBM's default shape).", "",
             "| case | metric | chunks | dii-hpc estimate | NannyML estimate | realized | "
             "max diff |", "|---|---|---|---|---|---|---|", *rows, "",
             f"Largest difference: {worst:.4f} (target 0.01; DLE relative).",
             "", "`.venv/bin/python benchmarks/bench_monitor_estimate.py` (NannyML in "
             "/work/envs/nannyml, its own virtualenv)."]
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
