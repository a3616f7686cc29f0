"""Benchmark: a drift check of 1,000,000 rows x 50 numeric features against a same-size reference.

Target (issue 6): <= 10 s on this machine. Compared with what a user would otherwise run:
  * scipy: one scipy.stats.wasserstein_distance call per feature (same statistic, same verdict);
  * Evidently's DataDriftPreset (same default rules: normalised Wasserstein >= 0.1 above 1000 rows),
    run in its own interpreter because Evidently 0.7 does not import with pandas 3
    (pass --evidently-python /path/to/python of a venv that has evidently and pandas < 3).

    .venv/bin/python benchmarks/bench_drift.py [--rows 1000000] [--evidently-python PY]
Results are written to reports/benchmarks_drift.md.
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

ROOT = Path(__file__).resolve().parent.parent
SHIFTED = 5

EVIDENTLY = r'''
import json, sys, time
import pandas as pd
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
t0 = time.perf_counter(); c0 = time.process_time()
from evidently import Report
from evidently.presets import DataDriftPreset
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
t1 = time.perf_counter(); c1 = time.process_time()
drifted = []
for m in snap.dict()["metrics"]:
    name, val = m.get("metric_name", ""), m.get("value")
    if name.startswith("ValueDrift(") and isinstance(val, (int, float)):
        col = name.split("column=")[1].split(",")[0].rstrip(")")
        if "method=Wasserstein" in name and val >= 0.1:
            drifted.append(col)
import evidently
print(json.dumps({"seconds": t1 - t0, "cpu": c1 - c0, "drifted": sorted(drifted), "version": evidently.__version__}))
'''


def make(rows: int, features: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    if shift:
        x[:, :SHIFTED] += 0.3  # 0.3 sd: W1/std = 0.3 >= 0.1 on exactly these features
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(features)])


def time_ours(ref: pd.DataFrame, cur: pd.DataFrame,
              repeats: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds per run: CPU time does not grow when other jobs share the cores."""
    from dii_hpc.drift.compare import compare_frames
    from dii_hpc.drift.options import DriftOptions

    times: list[float] = []
    cpu: list[float] = []
    section = None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        section = compare_frames(ref, cur, DriftOptions())
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return times, cpu, section


def time_scipy(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, float]:
    from scipy import stats

    t, c = time.perf_counter(), time.process_time()
    for col in ref.columns:
        r = ref[col].to_numpy()
        stats.wasserstein_distance(r, cur[col].to_numpy()) / max(np.std(r), 0.001)
    return time.perf_counter() - t, time.process_time() - c


def time_cli(ref_path: Path, cur_path: Path, store: Path) -> tuple[float, float, int]:
    exe = Path(sys.executable).with_name("dii-hpc")
    cmd = [str(exe), "--store", str(store), "drift", "check", "--reference", str(ref_path),
           "--current", str(cur_path), "--json", str(store / "out.json")]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    code = subprocess.run(cmd, capture_output=True, check=False).returncode
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, code


def run_evidently(python: str, ref_path: Path, cur_path: Path, timeout: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(EVIDENTLY)
    try:
        done = subprocess.run([python, fh.name, str(ref_path), str(cur_path)], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout} s"}
    finally:
        os.unlink(fh.name)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON"))
    ap.add_argument("--evidently-timeout", type=int, default=900)
    ap.add_argument("--skip-scipy", action="store_true")
    ap.add_argument("--report", default=str(ROOT / "reports" / "benchmarks_drift.md"))
    args = ap.parse_args()

    ref = make(args.rows, args.features, 0, False)
    cur = make(args.rows, args.features, 1, True)
    times, cpu, section = time_ours(ref, cur, args.repeats)
    res: dict[str, tuple[float, float]] = {"ours": (float(np.median(times)), float(np.median(cpu)))}
    drifted = sorted(k for k, f in section.features.items() if f.drift)
    right = drifted == [f"f{i}" for i in range(SHIFTED)]
    print(f"dii-hpc compare ({args.rows:,} x {args.features}): median {res['ours'][0]:.2f} s wall, "
          f"{res['ours'][1]:.2f} s CPU (runs {', '.join(f'{t:.2f}' for t in times)}); "
          f"drifted {drifted}")
    if not args.skip_scipy:
        res["scipy"] = time_scipy(ref, cur)
        print(f"scipy wasserstein_distance loop: {res['scipy'][0]:.2f} s wall, "
              f"{res['scipy'][1]:.2f} s CPU")
    with tempfile.TemporaryDirectory() as tmp:
        rp, cp = Path(tmp) / "ref.parquet", Path(tmp) / "cur.parquet"
        ref.to_parquet(rp)
        cur.to_parquet(cp)
        del ref, cur
        wall, c, code = time_cli(rp, cp, Path(tmp) / "store")
        res["cli"] = (wall, c)
        print(f"CLI end to end (read 2 parquet files, check, store run, write JSON): "
              f"{wall:.2f} s wall, {c:.2f} s CPU, exit {code}")
        ev = run_evidently(args.evidently_python, rp, cp, args.evidently_timeout) \
            if args.evidently_python else {"error": "not run (no --evidently-python)"}
    if "seconds" in ev:
        res["evidently"] = (ev["seconds"], ev["cpu"])
        print(f"Evidently {ev['version']} DataDriftPreset: {ev['seconds']:.2f} s wall, "
              f"{ev['cpu']:.2f} s CPU; drifted {ev['drifted']}")
    else:
        print(f"Evidently: {ev['error']}")
    for key, (w, c) in res.items():
        print(f"  ratio {key}/dii-hpc: wall {w / res['ours'][0]:.1f}x, CPU {c / res['ours'][1]:.1f}x")
    write_report(args, res, len(times), code, right, ev)


LABELS = {
    "ours": "dii-hpc check, in memory (median of {n})",
    "cli": "dii-hpc CLI end to end: read 2 parquet files, check, store the run, write JSON",
    "scipy": "scipy.stats.wasserstein_distance, one call per feature",
    "evidently": "Evidently {v} DataDriftPreset, in memory",
}


def write_report(args: argparse.Namespace, res: dict[str, tuple[float, float]], n: int,
                 code: int, right: bool, ev: dict) -> None:
    cores = len(os.sched_getaffinity(0))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ours_w, ours_c = res["ours"]
    lines = [
        f"## {args.rows:,} rows x {args.features} numeric features", "",
        f"Machine: {platform.machine()}, {cores} cores, {mem:.0f} GiB RAM, Python "
        f"{platform.python_version()}, numpy {np.__version__}; run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at the end "
        f"{os.getloadavg()[0]:.1f} (shared machine: wall times grow with the load, CPU times "
        "much less).", "",
        f"Reference of the same size; {SHIFTED} features shifted by 0.3 sd; default rules "
        "(normalised Wasserstein >= 0.1).", "",
        "| what | wall s | CPU s | ratio vs dii-hpc (wall / CPU) |", "|---|---|---|---|",
    ]
    for key, (w, c) in res.items():
        label = LABELS[key].format(n=n, v=ev.get("version", ""))
        lines.append(f"| {label} | {w:.2f} | {c:.2f} | {w / ours_w:.1f} / {c / ours_c:.1f} |")
    lines += ["", f"Target <= 10 s: {'met' if ours_w <= 10 else 'NOT met'} in memory, "
              f"{'met' if res['cli'][0] <= 10 else 'NOT met'} end to end (exit {code}). "
              f"Found exactly the {SHIFTED} shifted features: {'yes' if right else 'NO'}."]
    lines.append(f"Evidently flagged: {', '.join(ev['drifted']) or 'none'}." if "seconds" in ev
                 else f"Evidently: {ev['error']}.")
    Path(args.report).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
