"""Interop figures (issue 21): ``dii_hpc.mlflow.log_metric`` vs ``mlflow.log_metric`` per call.

The same MLflow-style loop, in this one process, once through MLflow's fluent API (file
store and SQLite, the two local backends an HPC user has) and once through dii_hpc.mlflow
(the import line changed). Each figure is the whole loop plus ending the run (dii-hpc's
final flush is part of its cost), divided by the number of calls. Also: the cost of
``dii_hpc.mlflow`` over a bare ``Run.log_metric``, and of importing an mlruns folder.

    .venv/bin/python benchmarks/bench_interop.py [--n 200000] [--mlflow-n 2000] [--quick]

Writes reports/benchmarks_interop.md (not with --quick).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_section  # noqa: E402


def _real_mlflow(uri: str):  # noqa: ANN202
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    warnings.filterwarnings("ignore")
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # after import: MLflow sets its own

    mlflow.set_tracking_uri(uri)
    return mlflow


def loop(module, n: int) -> float:  # noqa: ANN001
    """Per-call seconds of ``n`` log_metric calls in one run, ending included."""
    module.set_experiment("bench")
    vals = [1.0 / (1.0 + i / 1000.0) for i in range(n)]
    run = module.start_run()
    log = module.log_metric
    t0 = time.perf_counter()
    for i in range(n):
        log("loss", vals[i], step=i)
    module.end_run()
    elapsed = time.perf_counter() - t0
    del run
    return elapsed / n


def ours(n: int, repeat: int = 5) -> float:
    import dii_hpc.mlflow as dm

    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            dm.set_tracking_uri(d)
            best = min(best, loop(dm, n))
    return best


def bare_run(n: int, repeat: int = 5) -> float:
    import dii_hpc

    vals = [1.0 / (1.0 + i / 1000.0) for i in range(n)]
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as d:
            run = dii_hpc.start_run("bench", store=d)
            log = run.log_metric
            t0 = time.perf_counter()
            for i in range(n):
                log("loss", vals[i], i)
            run.finish()
            best = min(best, (time.perf_counter() - t0) / n)
    return best


def theirs(n: int, backend: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        uri = Path(d).as_uri() if backend == "file" else f"sqlite:///{d}/mlflow.db"
        mlflow = _real_mlflow(uri)
        loop(mlflow, min(n, 50))  # warm: schema creation, experiment, first run
        return loop(mlflow, n)


def import_cost(n_runs: int, steps: int) -> dict[str, float]:
    """Seconds to import an mlruns folder of n_runs x 3 metrics x steps, and to re-import it."""
    from mlflow.entities import Metric

    from dii_hpc.interop.mlflow_import import import_mlflow
    from dii_hpc.store.store import Store

    with tempfile.TemporaryDirectory() as d:
        mlflow = _real_mlflow(Path(d, "mlruns").as_uri())
        client = mlflow.MlflowClient()
        exp = client.create_experiment("bench")
        for _ in range(n_runs):
            rid = client.create_run(exp).info.run_id
            client.log_batch(rid, metrics=[Metric(k, 1.0 / (s + 1), 1000 * s, s)
                                           for s in range(steps) for k in ("a", "b", "c")])
            client.set_terminated(rid)
        t0 = time.perf_counter()
        import_mlflow(Store(Path(d, "store")), str(Path(d, "mlruns")))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        import_mlflow(Store(Path(d, "store")), str(Path(d, "mlruns")))
        return {"first": first, "again": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000, help="dii_hpc.mlflow calls per loop")
    ap.add_argument("--mlflow-n", type=int, default=2_000, help="MLflow calls per loop")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no report file")
    args = ap.parse_args()
    n, mn = (2_000, 50) if args.quick else (args.n, args.mlflow_n)
    t_ours, t_bare = ours(n), bare_run(n)
    t_file, t_sql = theirs(mn, "file"), theirs(mn, "sqlite")
    imp = import_cost(5 if args.quick else 50, 20 if args.quick else 200)
    lines = ["## Interop (issue 21)", "",
             "| measure | dii-hpc | alternative | ratio |", "|---|---|---|---|",
             f"| `log_metric` per call, MLflow fluent loop ({n:,} calls, run end included) "
             f"| dii_hpc.mlflow {t_ours * 1e6:.2f} us | mlflow file store ({mn:,} calls) "
             f"{t_file * 1e6:.0f} us | {t_file / t_ours:.0f}x cheaper |",
             f"| same, against MLflow's SQLite store | dii_hpc.mlflow {t_ours * 1e6:.2f} us | "
             f"mlflow sqlite {t_sql * 1e6:.0f} us | {t_sql / t_ours:.0f}x cheaper |",
             f"| the MLflow-compatible layer's own cost | dii_hpc.mlflow {t_ours * 1e6:.2f} us "
             f"| Run.log_metric {t_bare * 1e6:.2f} us | {t_ours / t_bare:.2f}x |",
             f"| `dii-hpc import mlflow`, {5 if args.quick else 50} runs x 3 metrics x "
             f"{20 if args.quick else 200} steps | {imp['first']:.2f} s (again: "
             f"{imp['again']:.2f} s, nothing new) | - | - |"]
    print("\n".join(lines), flush=True)
    if not args.quick:
        print("wrote", write_section("interop", lines))


if __name__ == "__main__":
    main()
