"""Benchmark of `dii-hpc report build` on a 1,000-run experiment.

Targets (issue #5): a site for 1,000 runs builds in <= 10 s, the experiment page stays under
5 MB, and a rebuild with no changes takes <= 1 s. Ratios are printed against the alternative
a user would otherwise run: a full (--force) rebuild every time.

    .venv/bin/python benchmarks/bench_report.py [--runs 1000] [--steps 100] [--keep DIR]

Writes reports/benchmarks_report.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_store(path: Path, runs: int, steps: int, metrics: int = 3, params: int = 4) -> None:
    """A sweep of ``runs`` train runs, ``metrics`` metrics x ``steps`` steps, via tracking."""
    import dii_hpc
    from dii_hpc.store.store import Store

    store = Store(path)
    for i in range(runs):
        lr = 10 ** (-1 - 3 * (i % 97) / 97)
        hp = {"lr": lr, "depth": 2 + i % 5, "optimizer": ("sgd", "adam", "rmsprop")[i % 3],
              "seed": i, **{f"p{k}": (i * (k + 3)) % 17 for k in range(max(0, params - 4))}}
        with dii_hpc.start_run("sweep", params=hp, store=store,
                               flush_points=100_000, flush_interval=3600) as run:
            for step in range(steps):
                loss = 2.0 / (1 + step * lr * 30) + (i % 13) * 0.003
                values = {"loss": loss, "acc": 1 - loss / 2.2, "val_acc": 0.95 - loss / 2.4}
                values |= {f"m{k}": loss * (k + 1) for k in range(max(0, metrics - 3))}
                run.log_metrics(values, step=step)
    print(f"store: {runs} runs x {metrics} metrics x {steps} steps at {path}", flush=True)


CPU: list[float] = []  # CPU seconds of the last timed call (this process + forked workers)


def _cpu() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, object]:
    """Wall seconds; CPU seconds go to CPU[-1] (the fair figure on a shared, loaded machine)."""
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    CPU.append(_cpu() - c0)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--params", type=int, default=4)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the store here")
    parser.add_argument("--append", action="store_true", help="add to the report file")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "benchmarks_report.md")
    args = parser.parse_args()

    import dii_hpc
    from dii_hpc.report import build_site, parallel
    from dii_hpc.store.store import Store

    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    store_dir = args.keep or work / "store"
    if not (store_dir / "experiments" / "sweep").is_dir():
        t_make, _ = timed(lambda: make_store(store_dir, args.runs, args.steps, args.metrics,
                                             args.params))
        print(f"  (store written in {t_make:.1f} s; not part of the figures)")
    out = work / "site"

    load0 = os.getloadavg()[0]
    t_full, res = timed(lambda: build_site(Store(store_dir), out=out, progress=False))
    c_full = CPU[-1]
    t_noop, noop = timed(lambda: build_site(Store(store_dir), out=out, progress=False))
    c_noop = CPU[-1]
    with dii_hpc.start_run("sweep", params={"lr": 0.05, "depth": 3, "optimizer": "adam",
                                            "seed": -1}, store=Store(store_dir)) as run:
        for step in range(args.steps):
            run.log_metrics({"loss": 1 / (step + 1), "acc": 0.5, "val_acc": 0.5}, step=step)
    t_one, one = timed(lambda: build_site(Store(store_dir), out=out, progress=False))
    c_one = CPU[-1]
    t_force, _ = timed(lambda: build_site(Store(store_dir), out=out, force=True, progress=False))
    c_force = CPU[-1]
    load1 = os.getloadavg()[0]
    Store(store_dir).delete_run(run.id)  # a kept store stays at --runs runs
    page = out / "experiments" / "sweep.html"
    size_mb = page.stat().st_size / 1e6
    total_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6

    rows = [
        ("full build, 1,000-run site (cold)", f"{t_full:.2f} s", f"{c_full:.2f} s", "<= 10 s",
         t_full <= 10, f"{res.rendered} pages"),
        ("rebuild, no change", f"{t_noop:.3f} s", f"{c_noop:.3f} s", "<= 1 s", t_noop <= 1,
         f"{noop.rendered} pages rendered; {c_force / c_noop:.0f}x less CPU than --force"),
        ("rebuild after 1 new run", f"{t_one:.2f} s", f"{c_one:.2f} s", "-", True,
         f"{one.rendered} pages rendered; {c_force / c_one:.1f}x less CPU than --force"),
        ("full re-render (--force)", f"{t_force:.2f} s", f"{c_force:.2f} s", "-", True,
         "the alternative: re-render everything"),
        ("experiment page size", f"{size_mb:.2f} MB", "", "< 5 MB", size_mb < 5,
         "table + embedded curves of every run"),
        ("whole site on disk", f"{total_mb:.1f} MB", "", "-", True, ""),
    ]
    lines = [
        f"## report: static site for a {args.runs:,}-run experiment, {args.metrics} metrics, "
        f"{args.params} params (`benchmarks/bench_report.py`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.platform(terse=True)}. Store: "
        f"{res.runs} runs (+1 for the incremental case) x {args.metrics} metrics x "
        f"{args.steps} steps, {args.params} params "
        f"(local disk). Load average "
        f"{load0:.1f} -> {load1:.1f} while measuring; CPU = this process + forked workers "
        f"({parallel.default_workers()} worker(s)).",
        "",
        "| measure | wall | CPU | target | ok | note |",
        "|---|---|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} | {'yes' if e else 'NO'} | {f} |"
          for a, b, c, d, e, f in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    if args.append and args.report.exists():
        text = args.report.read_text() + "\n" + text
    args.report.write_text(text)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
