"""Randomized smoothing (CERTIFY, issue 31): samples per second on CPU at n = 10,000, and the
certification suite as a Slurm array of 1, 2, 3 and 6 tasks on the test bed.

1. Throughput: `certification.smoothing.tally` (n0 = 100 selection + n = 10,000 estimation
   draws per sample, batch 1000) on the demo digits CNN (`digits_model`, width 16), one
   torch thread, in this process: samples/s and noisy forward passes/s; beside it the loop a
   user would write from Cohen et al.'s reference code (torch noise on the module, no
   per-chunk seeding, no numpy round trip), the same counts per sample.
2. Scaling: `audit suite certification --executor slurm` with `sample_shards: k` (each task
   a contiguous run of samples, one torch thread) from an empty checkpoint, wall clock from
   submission to merged result (task start, model build, Slurm's polling included);
   speed-up vs one task, next to what the host's cores allow (min(k, cores)); and
   whether every k gives the same per-sample results.
Writes reports/benchmarks_certify.md.

    .venv/bin/python benchmarks/bench_certify.py [--samples 200] [--tasks 1,2,3,6] [--no-slurm]
    .venv/bin/python benchmarks/bench_certify.py --tiny     # a check that it runs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads, here and in the tasks

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_section  # noqa: E402

MODEL = {"factory": "dii_hpc.examples.digits:digits_model"}
DATA = "dii_hpc.examples.digits:digits_data"


def _job(samples: int, n: int, shards: int = 1, executor: str = "local") -> Any:
    from dii_hpc.audit.job import of

    return of({"model": MODEL, "data": DATA, "seed": 0, "n_samples": samples,
               "sample_shards": shards, "attacks": ["smoothing"], "experiment": "bench-certify",
               "params": {"n": n, "n0": 100, "alpha": 0.001, "sigma": 0.25, "batch": 1000},
               "resources": {"time": "30"}}, "I", "certification", executor=executor)


def throughput(samples: int, n: int) -> dict[str, float]:
    """Seconds per sample: the audit's tally, and Cohen's loop written plainly in torch."""
    import torch

    from dii_hpc.audit.certification import smoothing as sm
    from dii_hpc.audit.core.data import prepare
    from dii_hpc.audit.specs import shape_of

    prep = prepare(_job(samples, n))
    s = sm.settings(shape_of(prep.model), {"n": n, "n0": 100, "sigma": 0.25, "batch": 1000})
    t0 = time.perf_counter()
    sm.tally(prep.model, prep.x, prep.seed, s, 0, samples)
    ours = (time.perf_counter() - t0) / samples
    module, gen = prep.model.module.eval(), torch.Generator().manual_seed(0)

    def cohen(x: np.ndarray, num: int) -> np.ndarray:
        counts = np.zeros(10, np.int64)
        with torch.no_grad():
            for lo in range(0, num, 1000):
                batch = torch.as_tensor(x).repeat(min(1000, num - lo), 1, 1, 1)
                noisy = batch + 0.25 * torch.randn(batch.shape, generator=gen)
                counts += np.bincount(module(noisy).argmax(1).numpy(), minlength=10)
        return counts

    t0 = time.perf_counter()
    for x in prep.x[:samples]:
        cohen(x, 100)
        cohen(x, n)
    plain = (time.perf_counter() - t0) / samples
    return {"ours": ours, "plain": plain, "forwards": n + 100}


def scaling(samples: int, n: int, tasks: list[int]) -> list[dict[str, Any]]:
    """Wall clock of the Slurm array + merge for each number of tasks, fresh store each."""
    from dii_hpc.audit.placement import runner

    rows = []
    for k in tasks:
        with tempfile.TemporaryDirectory(prefix="bench-certify-",
                                         dir=os.environ.get("BENCH_ROOT")) as root:
            os.environ["DII_HPC_STORE"] = str(Path(root) / "store")
            t0 = time.perf_counter()
            result, _ = runner.execute(_job(samples, n, k, "slurm"), persist=False)
            wall = time.perf_counter() - t0
        rows.append({"tasks": k, "wall": wall, "array_tasks": result["slurm"]["array_tasks"],
                     "compute": float(result["attacks"][0]["time_s"]),
                     "nodes": sorted({t.get("node") or "?" for t in result["slurm"]["tasks"]}),
                     "samples": result["samples"]})
    return rows


def load() -> float:
    """The 1-minute load average: what else competed for the host's cores."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--rate-samples", type=int, default=20)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--tasks", default="1,2,3,6")
    ap.add_argument("--no-slurm", action="store_true")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    if args.tiny:
        args.samples, args.rate_samples, args.n, args.tasks = 4, 2, 1000, "1,2"
    cores, busy = len(os.sched_getaffinity(0)), load()
    rate = throughput(args.rate_samples, args.n)
    lines = [f"## Randomized smoothing on CPU: digits CNN (width 16), n0 = 100, n = {args.n:,}, "
             f"batch 1000, one torch thread ({cores} cores, load {busy:.1f} at the start)", "",
             "| implementation | s per sample | samples/s | noisy forward passes/s |",
             "|---|---:|---:|---:|"]
    for name, key in (("dii-hpc `smoothing` (seeded chunks, model.predict)", "ours"),
                      ("Cohen-style torch loop on the module (no seeding per chunk)", "plain")):
        lines.append(f"| {name} | {rate[key]:.3f} | {1 / rate[key]:.2f} | "
                     f"{rate['forwards'] / rate[key]:,.0f} |")
    lines += ["", f"dii-hpc / plain loop: {rate['ours'] / rate['plain']:.2f}x the time per sample "
              f"(measured on {args.rate_samples} samples)."]
    print("\n".join(lines))
    if not args.no_slurm:
        rows = scaling(args.samples, args.n, [int(t) for t in args.tasks.split(",")])
        one = rows[0]["wall"]
        same = all(r["samples"] == rows[0]["samples"] for r in rows)
        lines += ["", f"## The certification suite as a Slurm array on the 3-node test bed: "
                  f"{args.samples} samples, n = {args.n:,}, one torch thread per task", "",
                  f"Wall clock from submission to the merged result (a fresh store and "
                  f"checkpoint each); the emulated nodes share the host's {cores} cores, so "
                  f"the ideal speed-up is min(tasks, {cores}). Load average before: "
                  f"{busy:.1f}, after: {load():.1f}.", "",
                  "| tasks | nodes used | wall s | samples/s | speed-up vs 1 task | "
                  "ideal min(tasks, cores) | task compute s (sum) |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['tasks']} | {', '.join(r['nodes'])} | {r['wall']:.1f} | "
                         f"{args.samples / r['wall']:.2f} | {one / r['wall']:.2f}x | "
                         f"{min(r['tasks'], cores):.1f}x | {r['compute']:.1f} |")
        lines += ["", f"Per-sample results (prediction, radius) identical for every number of "
                  f"tasks: {'yes' if same else 'NO'}."]
        print("\n".join(lines[-len(rows) - 6:]))
    if not args.no_report and not args.tiny:
        print(write_section("certify", lines))


if __name__ == "__main__":
    main()
