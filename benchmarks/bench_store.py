"""Foundation figures (issue 2): logging cost, listing and history reads vs MLflow/TensorBoardX.

Everything runs in this one process, side by side, on the same data. Run:
    .venv/bin/python benchmarks/bench_store.py [--quick]
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
from _common import best_of, write_section  # noqa: E402


def bench_log_metric(n: int, pairs: int = 9) -> dict[str, float]:
    """Bare appends and logged runs alternate, so both see the same machine; best of each."""
    import statistics

    import zarr  # noqa: F401 - a training script has paid its imports before the loop

    import dii_hpc

    vals = [1.0 / (1.0 + i / 1000.0) for i in range(n)]  # a decaying loss: realistic to compress

    def bare() -> float:
        buf: list[tuple[str, float, int]] = []
        append = buf.append
        t0 = time.perf_counter()
        for i in range(n):
            append(("loss", vals[i], i))
        return time.perf_counter() - t0

    def ours() -> float:
        with tempfile.TemporaryDirectory() as d:
            run = dii_hpc.start_run("bench", store=d)
            log = run.log_metric
            t0 = time.perf_counter()
            for i in range(n):
                log("loss", vals[i], i)
            run.finish()  # the final flush is part of the cost
            return time.perf_counter() - t0

    ours()  # first run of the process: imports and metadata templates
    samples = [(bare(), ours()) for _ in range(pairs)]
    t_bare = min(b for b, _ in samples) / n
    t_ours = min(o for _, o in samples) / n
    return {"bare": t_bare, "ours": t_ours,
            "pair_median": statistics.median(o / b for b, o in samples)}


def bench_tensorboardx(n: int) -> float:
    from tensorboardX import SummaryWriter

    with tempfile.TemporaryDirectory() as d:
        w = SummaryWriter(d)
        t0 = time.perf_counter()
        for i in range(n):
            w.add_scalar("loss", 0.5, i)
        w.close()
        return (time.perf_counter() - t0) / n


def _mlflow(uri: str):  # noqa: ANN202
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the issue compares with the file store
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow


def bench_mlflow_log(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        mlflow = _mlflow(Path(d).as_uri())
        mlflow.set_experiment("logbench")
        with mlflow.start_run():
            t0 = time.perf_counter()
            for i in range(n):
                mlflow.log_metric("loss", 0.5, step=i)
            return (time.perf_counter() - t0) / n


def populate(n_runs: int, store_dir: str, mlruns: str) -> tuple[list[str], list[str]]:
    """The same runs in both systems: 5 params, 3 metrics x 100 steps each."""
    import dii_hpc

    mlflow = _mlflow(Path(mlruns).as_uri())
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("bench")
    ours, theirs = [], []
    for r in range(n_runs):
        params = {"lr": 10.0 ** -(r % 5), "width": 16 * (r % 4 + 1), "opt": "adam", "seed": r, "wd": 0.0}
        with dii_hpc.start_run("bench", params=params, store=store_dir) as run:
            for s in range(100):
                run.log_metrics({"loss": 1 / (s + 1), "acc": s / 100, "val_acc": s / 110}, step=s)
        ours.append(run.id)
        mr = client.create_run(exp_id)
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, s) for s in range(100)
                   for k, v in (("loss", 1 / (s + 1)), ("acc", s / 100), ("val_acc", s / 110))]
        client.log_batch(mr.info.run_id, metrics=metrics,
                         params=[Param(k, str(v)) for k, v in params.items()])
        client.set_terminated(mr.info.run_id)
        theirs.append(mr.info.run_id)
    return ours, theirs


def bench_listing_and_history(n_runs: int) -> dict[str, float]:
    import dii_hpc

    with tempfile.TemporaryDirectory() as d:
        store_dir, mlruns = os.path.join(d, "store"), os.path.join(d, "mlruns")
        ours, theirs = populate(n_runs, store_dir, mlruns)
        mlflow = _mlflow(Path(mlruns).as_uri())
        client = mlflow.MlflowClient()
        store = dii_hpc.Store(store_dir)
        res = {
            "runs_ours": best_of(lambda: store.runs("bench")),
            "runs_mlflow": best_of(lambda: mlflow.search_runs(experiment_names=["bench"]), 2),
        }
        assert len(store.runs("bench")) == n_runs
        res["hist_ours"] = best_of(lambda: [store.metric_history(r, "loss") for r in ours], 2)
        res["hist_mlflow"] = best_of(lambda: [client.get_metric_history(r, "loss") for r in theirs], 1)
        return res


def bench_compacted(n_runs: int) -> dict[str, float]:
    """10,000 finished run records (as written by real runs), compacted, then listed."""
    from bench_scale import fill

    import dii_hpc
    from dii_hpc.store.summary import compact

    with tempfile.TemporaryDirectory() as d:
        store = dii_hpc.Store(d)
        fill(store, "big", n_runs)
        t0 = time.perf_counter()
        compact(store, "big")
        t_compact = time.perf_counter() - t0
        t_list = best_of(lambda: store.runs("big"))
        assert len(store.runs("big")) == n_runs
        return {"compact": t_compact, "list": t_list}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = ap.parse_args()
    n_log = 20_000 if args.quick else 200_000
    n_runs = 100 if args.quick else 1000
    n_big = 1000 if args.quick else 10_000

    lm = bench_log_metric(n_log)
    tb = bench_tensorboardx(min(n_log, 50_000))
    mf = bench_mlflow_log(2000 if not args.quick else 300)
    lines = ["## Store and tracking (issue 2)", "",
             "| measure | dii-hpc | alternative | ratio | target |", "|---|---|---|---|---|"]
    lines.append(f"| log_metric amortised (calls + final flush), {n_log:,} calls, best of 9 "
                 f"alternating | {lm['ours'] * 1e9:.0f} ns | bare list.append {lm['bare'] * 1e9:.0f} ns | "
                 f"{lm['ours'] / lm['bare']:.1f}x the append (median of pairs "
                 f"{lm['pair_median']:.1f}x) | <= 4x |")
    lines.append(f"| log_metric vs TensorBoardX add_scalar | {lm['ours'] * 1e6:.2f} us | "
                 f"{tb * 1e6:.1f} us | {tb / lm['ours']:.0f}x cheaper | >= 50x |")
    lines.append(f"| log_metric vs MLflow file store log_metric | {lm['ours'] * 1e6:.2f} us | "
                 f"{mf * 1e6:.0f} us | {mf / lm['ours']:.0f}x cheaper | >= 400x |")
    print("\n".join(lines), flush=True)
    lh = bench_listing_and_history(n_runs)
    lines.append(f"| Store.runs() on {n_runs} runs (5 params, 3 metrics x 100 steps) | "
                 f"{lh['runs_ours'] * 1e3:.0f} ms | mlflow.search_runs {lh['runs_mlflow'] * 1e3:.0f} ms | "
                 f"{lh['runs_mlflow'] / lh['runs_ours']:.1f}x faster | >= 10x |")
    lines.append(f"| {n_runs} metric histories read | {lh['hist_ours'] * 1e3:.0f} ms | "
                 f"MlflowClient.get_metric_history {lh['hist_mlflow'] * 1e3:.0f} ms | "
                 f"{lh['hist_mlflow'] / lh['hist_ours']:.1f}x faster | >= 5x |")
    print("\n".join(lines[-2:]), flush=True)
    big = bench_compacted(n_big)
    lines.append(f"| list {n_big:,} compacted runs | {big['list'] * 1e3:.0f} ms | - | - | <= 500 ms |")
    lines.append(f"| compact {n_big:,} runs from scratch | {big['compact']:.2f} s | - | - | - |")
    print("\n".join(lines[-2:]), flush=True)
    if not args.quick:
        print("wrote", write_section("store", lines))


if __name__ == "__main__":
    main()
