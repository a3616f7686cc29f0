"""Benchmark: drift over data larger than memory, from mergeable sketches (issue 30, item 3).

(a) 10M rows x 20 float32 columns per side, split over 8 parquet shards: the sketch check
    (`drift check --sketch`, every shard profiled in this process one after the other) vs the
    exact check of everything read into one process: the same drifted columns (default tests
    and KS on every column), |KS_sketch - KS_exact| against the stated error; and the peak
    memory of one profiling task on a 1M-row and a 10M-row file (fresh processes, maxrss).
(b) a 100M-row x 20-column current batch (float32 parquet shards) against (a)'s reference,
    profiled and checked as ONE Slurm array (one task per shard) + a dependent merge job on
    the test bed (`dii-hpc drift check --executor slurm`): wall time, each task's peak memory,
    and the one-process alternative (read everything, exact check) where it still fits.

    .venv/bin/python benchmarks/bench_drift_sketch.py --part a [--rows-a 10000000]
    .venv/bin/python benchmarks/bench_drift_sketch.py --part b [--rows-b 100000000]
Data lives under --root (default /tmp/dii-bench-sketch) and is deleted at the end of a part
(--keep keeps it); ROOT/results.json keeps each part's figures, and
reports/benchmarks_drift_sketch.md shows both parts' latest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "benchmarks_drift_sketch.md"
COLS = [f"f{i:02d}" for i in range(20)]
# current batch: column -> (mean shift, scale) in units of the reference's std
SHIFTS = {"f00": (0.3, 1.0), "f01": (0.0, 1.3), "f02": (0.15, 1.0), "f03": (0.12, 1.0),
          "f04": (0.0, 0.8)}
CHUNK = 1 << 20


def generate(folder: Path, rows: int, shards: int, seed: int, drifted: bool) -> list[Path]:
    """``shards`` float32 parquet files of ``rows`` rows in all (row groups of 1M rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, shards + 1).astype(np.int64)
    paths = []
    for i in range(shards):
        path = folder / f"part-{i:03d}.parquet"
        with pq.ParquetWriter(path, pa.schema([(c, pa.float32()) for c in COLS]),
                              compression="none") as w:
            for a in range(int(bounds[i]), int(bounds[i + 1]), CHUNK):
                n = min(CHUNK, int(bounds[i + 1]) - a)
                cols = {}
                for c in COLS:
                    shift, scale = SHIFTS.get(c, (0.0, 1.0)) if drifted else (0.0, 1.0)
                    cols[c] = rng.standard_normal(n, dtype=np.float32) * scale + shift
                w.write_table(pa.table(cols))
        paths.append(path)
    return paths


EXACT = r'''
import json, resource, sys, time
import pandas as pd
from dii_hpc.drift import compare
from dii_hpc.drift.options import DriftOptions
ref_files, cur_files = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t0 = time.perf_counter()
ref = pd.concat([pd.read_parquet(p) for p in ref_files], ignore_index=True)
cur = pd.concat([pd.read_parquet(p) for p in cur_files], ignore_index=True)
t_read = time.perf_counter() - t0
out = {"read_s": t_read}
for name, opt in (("default", DriftOptions()), ("ks", DriftOptions(tests={c: "ks" for c in ref.columns}))):
    t = time.perf_counter()
    s = compare.compare_frames(ref, cur, opt)
    out[name] = {"seconds": time.perf_counter() - t, "drifted": [c for c, f in s.features.items() if f.drift],
                 "stat": {c: f.statistic for c, f in s.features.items()}}
out["seconds"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
'''

SKETCH = r'''
import json, resource, sys, time
from dii_hpc.drift.options import DriftOptions
from dii_hpc.drift.sketch import check
from dii_hpc.drift.sketch.compare import compare_profiles
ref_glob, cur_glob = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
opt = DriftOptions(sketch=True)
ref = check.profile_files(check.files_of(ref_glob), opt)
cur = check.profile_files(check.files_of(cur_glob), opt)
t_prof = time.perf_counter() - t0
out = {"profile_s": t_prof}
for name, o in (("default", opt), ("ks", DriftOptions(sketch=True, tests={c: "ks" for c in ref.columns}))):
    t = time.perf_counter()
    s = compare_profiles(ref, cur, o)
    out[name] = {"seconds": time.perf_counter() - t, "drifted": [c for c, f in s.features.items() if f.drift],
                 "stat": {c: f.statistic for c, f in s.features.items()},
                 "error": {c: f.error for c, f in s.features.items()}}
out["seconds"] = time.perf_counter() - t0
out["rank_error"] = [s.sketch.rank_error_reference, s.sketch.rank_error_current]
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
'''

TASK = r'''
import json, sys
from dii_hpc.drift.sketch.slurm import profile_task
print(json.dumps(profile_task(sys.argv[1], sys.argv[2], [], [], 400)))
'''


def _py(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def part_a(root: Path, rows: int, shards: int) -> dict[str, Any]:
    t = time.perf_counter()
    ref = generate(root / "ref", rows, shards, 1, False)
    cur = generate(root / "cur", rows, shards, 2, True)
    mem = {n: generate(root / f"mem{n}", n, 1, 3, False)[0] for n in (rows // 10, rows)}
    gen_s = time.perf_counter() - t
    print(f"generated in {gen_s:.0f} s", flush=True)
    sketch = _py(SKETCH, str(root / "ref" / "*.parquet"), str(root / "cur" / "*.parquet"))
    print("sketch", sketch["seconds"], sketch["peak_rss_mb"], flush=True)
    exact = _py(EXACT, json.dumps([str(p) for p in ref]), json.dumps([str(p) for p in cur]))
    print("exact", exact["seconds"], exact["peak_rss_mb"], flush=True)
    tasks = {n: _py(TASK, str(p), str(root / f"mem{n}.sketch")) for n, p in mem.items()}
    gaps = {c: abs(sketch["ks"]["stat"][c] - exact["ks"]["stat"][c]) for c in COLS}
    return {"rows": rows, "shards": shards, "generate_s": gen_s, "sketch": sketch,
            "exact": exact, "tasks": tasks, "ks_gap": gaps,
            "ks_within": all(gaps[c] <= sketch["ks"]["error"][c] for c in COLS)}


def part_b(root: Path, rows: int, shards: int, ref_rows: int, ref_shards: int) -> dict[str, Any]:
    t = time.perf_counter()
    generate(root / "ref", ref_rows, ref_shards, 1, False)
    generate(root / "big", rows, shards, 4, True)
    gen_s = time.perf_counter() - t
    size = sum(p.stat().st_size for p in (root / "big").glob("*.parquet"))
    print(f"generated {size / 2**30:.1f} GiB in {gen_s:.0f} s", flush=True)
    store, out = root / "store", root / "drift.json"
    t = time.perf_counter()
    res = subprocess.run([str(Path(sys.executable).parent / "dii-hpc"), "drift", "check",
                          "--reference", str(root / "ref" / "*.parquet"), "--current",
                          str(root / "big" / "*.parquet"), "--executor", "slurm",
                          "--json", str(out)], capture_output=True, text=True,
                         env={**os.environ, "DII_HPC_STORE": str(store)})
    wall = time.perf_counter() - t
    if res.returncode not in (0, 1):
        raise SystemExit(res.stderr)
    section = json.loads(out.read_text())
    one = _py(SKETCH, str(root / "ref" / "*.parquet"), str(root / "big" / "*.parquet"))
    print("one process", one["seconds"], one["peak_rss_mb"], flush=True)
    tasks = section["sketch"]["tasks"]
    shard_tasks = [x for x in tasks if not x.get("merge")]
    return {"rows": rows, "shards": shards, "ref_rows": ref_rows, "ref_shards": ref_shards,
            "bytes": size, "generate_s": gen_s, "wall_s": wall, "exit": res.returncode,
            "drifted": [c for c, f in section["features"].items() if f["drift"]],
            "task_peak_mb": [x["peak_rss_mb"] for x in shard_tasks],
            "task_s": [x["seconds"] for x in shard_tasks],
            "task_cpu_s": [x.get("cpu_s", 0.0) for x in shard_tasks],
            "one_process_s": one["seconds"], "one_process_peak_mb": one["peak_rss_mb"],
            "one_process_drifted": one["default"]["drifted"],
            "task_rows": [x["rows"] for x in shard_tasks],
            "hosts": sorted({x["host"] for x in shard_tasks}),
            "merge_peak_mb": [x["peak_rss_mb"] for x in tasks if x.get("merge")],
            "rank_error": [section["sketch"]["rank_error_reference"],
                           section["sketch"]["rank_error_current"]]}


def _fmt_a(a: dict[str, Any]) -> list[str]:
    s, e = a["sketch"], a["exact"]
    small, big = sorted(a["tasks"], key=int)
    ks_err = max(s["ks"]["error"].values())
    return [
        f"### (a) {a['rows']:,} rows x 20 float32 columns per side, {a['shards']} parquet "
        "shards each",
        "",
        "| | sketch (`--sketch`, one process, shards one after the other) | exact (all rows "
        "in one process) |",
        "|---|---|---|",
        f"| wall time | {s['seconds']:.1f} s (profiling {s['profile_s']:.1f} s) | "
        f"{e['seconds']:.1f} s (reading {e['read_s']:.1f} s) |",
        f"| peak memory | {s['peak_rss_mb']:.0f} MB | {e['peak_rss_mb']:.0f} MB |",
        f"| drifted, default tests | {', '.join(s['default']['drifted'])} | "
        f"{', '.join(e['default']['drifted'])} |",
        f"| drifted, KS on every column | {', '.join(s['ks']['drifted'])} | "
        f"{', '.join(e['ks']['drifted'])} |",
        "",
        f"KS: largest |KS_sketch - KS_exact| over the 20 columns {max(a['ks_gap'].values()):.4f}, "
        f"stated error (eps_ref + eps_cur, KLL k=400, 99 % confidence) {ks_err:.4f}: "
        f"{'every column within it' if a['ks_within'] else 'NOT every column within it'}. "
        "Wasserstein (normalised) largest gap "
        f"{max(abs(s['default']['stat'][c] - e['default']['stat'][c]) for c in COLS):.4f}.",
        "",
        "Peak memory of one profiling task (fresh process, `resource.getrusage` maxrss): "
        f"{int(small):,} rows {a['tasks'][small]['peak_rss_mb']:.0f} MB "
        f"({a['tasks'][small]['seconds']:.1f} s), {int(big):,} rows "
        f"{a['tasks'][big]['peak_rss_mb']:.0f} MB ({a['tasks'][big]['seconds']:.1f} s): "
        "bounded by one column of one row group (1,048,576 rows here) plus the sketches, "
        "not by the file.",
        "",
    ]


def _fmt_b(b: dict[str, Any], a: dict[str, Any] | None) -> list[str]:
    peak = b["task_peak_mb"]
    rows = b["rows"] + b["ref_rows"]
    exact = "" if a is None else (
        f" Reading everything into one process for the exact check does not fit: at "
        f"{2 * a['rows']:,} rows it peaked at {a['exact']['peak_rss_mb'] / 1024:.1f} GiB (part a), "
        f"so {rows:,} rows need about "
        f"{a['exact']['peak_rss_mb'] / 1024 * rows / (2 * a['rows']):.0f} GiB, more than this "
        f"machine's memory; not run.")
    return [
        f"### (b) {b['rows']:,} rows x 20 float32 columns ({b['bytes'] / 2**30:.1f} GiB of "
        f"parquet, {b['shards']} shards) vs a {b['ref_rows']:,}-row reference "
        f"({b['ref_shards']} shards), one Slurm array + merge",
        "",
        f"`dii-hpc drift check --executor slurm`: {b['shards'] + b['ref_shards']} array tasks "
        f"(one per shard) on {', '.join(b['hosts'])} + one merge job; wall time "
        f"{b['wall_s']:.0f} s from submission to verdict (exit {b['exit']}); task time "
        f"{min(b['task_s']):.0f}-{max(b['task_s']):.0f} s each, {sum(b['task_s']):.0f} s in all; "
        f"peak memory per task {min(peak):.0f}-{max(peak):.0f} MB, merge job "
        f"{max(b['merge_peak_mb']):.0f} MB. Drifted: {', '.join(b['drifted'])} "
        f"(generated: {', '.join(SHIFTS)}; exit 0: 5 of 20 columns is under the default "
        f"share 0.5). Rank error {max(b['rank_error']):.4f}. Task CPU time "
        f"{sum(b['task_cpu_s']):.0f} s in all (2 cores shared by the 3 emulated nodes).",
        "",
        f"The same sketches in ONE process (`drift check --sketch`, shards one after the "
        f"other): {b['one_process_s']:.0f} s, peak {b['one_process_peak_mb']:.0f} MB, drifted "
        f"{', '.join(b['one_process_drifted'])}; the array + merge took "
        f"{b['wall_s'] / b['one_process_s']:.2f}x its time on this 2-core host (more nodes, "
        f"more shards at once)." + exact,
        "",
    ]


def write_report(results: dict[str, Any]) -> None:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [f"{os.cpu_count()} x86-64 cores, {mem:.0f} GiB, Python {platform.python_version()}, CPU",
             "", "## Drift from mergeable sketches (issue 30, item 3)", "",
             "`benchmarks/bench_drift_sketch.py`. Current batch: columns "
             f"{', '.join(SHIFTS)} shifted or rescaled (0.12 to 0.3 std), 15 unchanged.", ""]
    if "a" in results:
        lines += _fmt_a(results["a"])
    if "b" in results:
        lines += _fmt_b(results["b"], results.get("a"))
    lines += results.get("notes", [])
    REPORT.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["a", "b"], required=True)
    ap.add_argument("--rows-a", type=int, default=10_000_000)
    ap.add_argument("--shards-a", type=int, default=8)
    ap.add_argument("--rows-b", type=int, default=100_000_000)
    ap.add_argument("--shards-b", type=int, default=20)
    ap.add_argument("--root", default="/tmp/dii-bench-sketch")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    root = Path(args.root) / args.part
    state = Path(args.root) / "results.json"  # both parts' latest figures (data is deleted)
    results = json.loads(state.read_text()) if state.is_file() else {}
    try:
        if args.part == "a":
            results["a"] = part_a(root, args.rows_a, args.shards_a)
        else:
            results["b"] = part_b(root, args.rows_b, args.shards_b, args.rows_a, args.shards_a)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    state.write_text(json.dumps(results, indent=1))
    write_report(results)
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
