"""Batch inference: dii-hpc `predict` vs a plain torch loop on one CPU, and the array speed-up.

1. Overhead: the demo MLP (20 -> 256 -> 256 -> 3) over the same parquet rows on ONE CPU
   (process pinned to core 0, torch threads = 1, batch 1024). Plain loop = read the parquet,
   batches through the model under no_grad, np.save the outputs. dii-hpc = `predict` in this
   process (debug executor, 1 shard): input scan, manifest, zarr chunk + done marker, run
   tracking with latency percentiles. Interleaved repeats, best of each. Target: <= 10% overhead.
   (The inputs' sha256 is cached by path/size/mtime/inode after the warm-up run; the one-off
   hashing cost of new files is reported beside the figure.)
2. Scale: the same job as 1 and as 2 Slurm array tasks (1 CPU each) on this 2-core machine,
   end to end (sbatch -> all tasks done -> run recorded), and with the local executor.

Usage: python benchmarks/bench_inference.py [--rows 1000000] [--scale-rows 3000000] [--no-slurm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_section  # noqa: E402

MODEL = "dii_hpc.inference.demo:mlp"
BATCH = 1024


def plain_loop(path: Path, out: Path) -> tuple[float, float]:
    """What a user writes by hand; returns (wall, CPU) seconds."""
    import pandas as pd
    import torch

    from dii_hpc.inference import demo

    t0, c0 = time.perf_counter(), time.process_time()
    x = pd.read_parquet(path).to_numpy(np.float32)
    net = demo.mlp()
    with torch.no_grad():
        outs = [net(torch.from_numpy(x[i:i + BATCH])).numpy() for i in range(0, len(x), BATCH)]
    y = np.concatenate(outs)
    np.save(out, y)
    np.save(out.with_name("pred.npy"), y.argmax(axis=1))
    return time.perf_counter() - t0, time.process_time() - c0


def dii_predict(glob: str, out: Path, store: object, executor: str = "debug", shards: int = 1,
                parallel: int | None = None) -> tuple[float, dict]:
    from dii_hpc.config.schema import Resources
    from dii_hpc.inference.job import PredictRequest, predict

    shutil.rmtree(out, ignore_errors=True)
    req = PredictRequest(model=MODEL, data=glob, out=str(out), executor=executor, shards=shards,
                         batch_size=BATCH, experiment="bench-inference", device="cpu",
                         resources=Resources(cpus_per_task=1, array_parallelism=parallel))
    t0, c0 = time.perf_counter(), time.process_time()
    section = predict(req, store)
    section["cpu_seconds"] = time.process_time() - c0
    return time.perf_counter() - t0, section


def overhead(tmp: Path, rows: int, repeats: int, store: object) -> list[str]:
    import torch

    from dii_hpc.inference import demo

    os.sched_setaffinity(0, {0})
    torch.set_num_threads(1)
    demo.write_data(tmp / "one", rows, files=1, fmt="parquet", seed=0)
    glob = str(tmp / "one" / "*.parquet")
    plain_loop(tmp / "one" / "part-000.parquet", tmp / "warm.npy")  # warm caches
    dii_predict(glob, tmp / "dii-one", store)
    plain, dii, plain_cpu, dii_cpu, sections = [], [], [], [], []
    for _ in range(repeats):
        wall, cpu = plain_loop(tmp / "one" / "part-000.parquet", tmp / "plain.npy")
        plain.append(wall)
        plain_cpu.append(cpu)
        secs, sec = dii_predict(glob, tmp / "dii-one", store)
        dii.append(secs)
        dii_cpu.append(sec["cpu_seconds"])
        sections.append(sec)
    from dii_hpc.store.blobs import file_sha256

    c0 = time.process_time()
    file_sha256(tmp / "one" / "part-000.parquet")
    sha_cpu = time.process_time() - c0
    got = np.load(tmp / "plain.npy")
    from dii_hpc.inference import output

    same = np.array_equal(output.read_outputs(tmp / "dii-one")["output"], got)
    best_p, best_d = min(plain), min(dii)
    cpu_p, cpu_d = min(plain_cpu), min(dii_cpu)
    m = sections[int(np.argmin(dii))]["metrics"]
    print(f"plain loop {best_p:.2f}s ({rows / best_p:,.0f} rows/s); dii-hpc {best_d:.2f}s "
          f"({rows / best_d:,.0f} rows/s); overhead wall {best_d / best_p - 1:+.1%}, CPU "
          f"{cpu_d / cpu_p - 1:+.1%} ({cpu_p:.2f} vs {cpu_d:.2f} CPU s); identical: {same}")
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return [
        f"### One CPU: dii-hpc predict vs a plain torch loop ({rows:,} rows x 20, batch {BATCH})", "",
        f"| | CPU s (best of {repeats}) | wall s (best of {repeats}) | rows/s (wall) | median wall s |",
        "|---|---|---|---|---|",
        f"| plain torch loop (read parquet, no_grad batches, np.save) | {cpu_p:.2f} | {best_p:.2f} | "
        f"{rows / best_p:,.0f} | {statistics.median(plain):.2f} |",
        f"| `dii-hpc predict` in-process, 1 shard (hash inputs, zarr + marker, run tracking) | "
        f"{cpu_d:.2f} | {best_d:.2f} | {rows / best_d:,.0f} | {statistics.median(dii):.2f} |",
        "",
        f"Overhead: **{cpu_d / cpu_p - 1:+.1%} in CPU time**, {best_d / best_p - 1:+.1%} in wall time "
        f"(target <= +10%; CPU time is the figure other jobs on this shared VM disturb least); "
        f"outputs bit-identical to the "
        f"plain loop: {same}. Batch latency p50/p95/p99: {m['latency_p50_ms']:.2f} / "
        f"{m['latency_p95_ms']:.2f} / {m['latency_p99_ms']:.2f} ms; peak RSS "
        f"{m['peak_rss_mb']:.0f} MB. The inputs' sha256 comes from the store's scan cache after "
        f"the warm-up run; the first job over new files also hashes them: +{sha_cpu:.2f} CPU s "
        f"({sha_cpu / cpu_p:+.1%}).", ""]


_PROBE = """
import sys, time, torch
from dii_hpc.inference import demo
torch.set_num_threads(1)
x = demo.make_rows(400_000); net = demo.mlp()
t = time.perf_counter()
with torch.no_grad():
    for i in range(0, len(x), 1024):
        net(torch.from_numpy(x[i:i + 1024]))
print(time.perf_counter() - t)
"""


def ceiling() -> tuple[float, float]:
    """What 2 processes gain over 1 on this machine right now: (ideal speed-up, load average).

    Plain torch loops, no dii-hpc: one alone, then two at once. On an idle 2-core machine ~2.
    """
    def probe(n: int) -> list[float]:
        procs = [subprocess.Popen([sys.executable, "-c", _PROBE], stdout=subprocess.PIPE, text=True)
                 for _ in range(n)]
        return [float(p.communicate()[0].split()[-1]) for p in procs]

    alone = min(probe(1)[0] for _ in range(2))
    pair = max(probe(2))
    return 2 * alone / pair, os.getloadavg()[0]


def scale(tmp: Path, rows: int, store: object, slurm: bool, repeats: int) -> list[str]:
    from dii_hpc.inference import demo

    demo.write_data(tmp / "big", rows, files=2, fmt="parquet", seed=1)
    glob = str(tmp / "big" / "*.parquet")
    lines = [f"### Array tasks on this 2-core machine ({rows:,} rows, 1 CPU per task, end to end, "
             f"best of {repeats})",
             "", "| executor | tasks | wall s | rows/s | speed-up | rows/s per task (compute) |",
             "|---|---|---|---|---|---|"]
    kinds = ["local"] + (["slurm"] if slurm else [])
    for kind in kinds:
        ones, twos = [], []
        for _ in range(repeats):  # interleaved, best of each: the least disturbed by other jobs
            ones.append(dii_predict(glob, tmp / f"{kind}-1", store, kind, shards=1, parallel=1))
            twos.append(dii_predict(glob, tmp / f"{kind}-2", store, kind, shards=2, parallel=2))
        one, sec1 = min(ones, key=lambda r: r[0])
        two, sec = min(twos, key=lambda r: r[0])
        where = f" (array {sec['array_job_id']})" if sec.get("array_job_id") else ""
        t1, t2 = sec1["metrics"]["task_rows_per_s"], sec["metrics"]["task_rows_per_s"]
        print(f"{kind}: 1 task {one:.1f}s, 2 tasks {two:.1f}s -> x{one / two:.2f}{where}; "
              f"per-task rows/s {t1:,.0f} vs {t2:,.0f}")
        lines += [f"| {kind} | 1 | {one:.1f} | {rows / one:,.0f} | 1.00 | {t1:,.0f} |",
                  f"| {kind}{where} | 2 | {two:.1f} | {rows / two:,.0f} | **{one / two:.2f}x** | "
                  f"{t2:,.0f} |"]
    ideal, load = ceiling()
    print(f"machine ceiling now: 2 plain torch processes = x{ideal:.2f} over 1; load {load:.1f}")
    lines += ["", f"Ceiling measured right after (no dii-hpc): two plain single-thread torch loops "
              f"at once run **x{ideal:.2f}** the rows/s of one alone (an idle 2-core machine gives "
              f"~x2); load average {load:.1f}. Each task also starts Python and imports "
              "torch/zarr/pandas (several seconds here), a fixed cost per task.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--scale-rows", type=int, default=3_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale-repeats", type=int, default=2)
    ap.add_argument("--no-slurm", action="store_true")
    ap.add_argument("--skip-scale", action="store_true", help="overhead only (no report file)")
    args = ap.parse_args()
    from dii_hpc import Store

    tmp = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    try:
        store = Store(tmp / "store")
        lines = ["## Inference: batch predict (issue 7)", "", f"Machine: {machine()}.", ""]
        lines += overhead(tmp, args.rows, args.repeats, store)
        slurm = not args.no_slurm and shutil.which("sbatch") is not None and \
            subprocess.run(["scontrol", "ping"], capture_output=True).returncode == 0
        if not args.skip_scale:
            lines += scale(tmp, args.scale_rows, store, slurm, args.scale_repeats)
        if not args.skip_scale:
            print(write_section("inference", lines))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
