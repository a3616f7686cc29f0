"""Launch figures (issue 3): a 1,000-task sweep submitted as one array; status in one sacct call.

Runs against the real cluster of scripts/slurm-up.sh.  Scheduler calls are counted by shims on
PATH (sbatch, scontrol, sacct, squeue, scancel) that log each call and exec the real command,
so the counts cover submitit's own calls too.  The array is submitted held (--hold) and
cancelled afterwards, so the benchmark leaves the cluster as it found it.
    .venv/bin/python benchmarks/bench_launch.py [--tasks 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_section  # noqa: E402

COMMANDS = ("sbatch", "scontrol", "sacct", "squeue", "scancel")


class Tiny:
    """The benchmark's model (never trained: the array is held and cancelled)."""

    def train_function(self, *args: Any, **kwargs: Any) -> None: ...


def install_shims(folder: Path, log: Path) -> None:
    """Put counting wrappers of the Slurm commands first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for cmd in COMMANDS:
        real = shutil.which(cmd)
        shim = folder / cmd
        shim.write_text(f'#!/bin/sh\necho {cmd} >> "{log}"\nexec "{real}" "$@"\n')
        shim.chmod(0o755)
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"


def calls(log: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    if log.exists():
        for line in log.read_text().split():
            out[line] = out.get(line, 0) + 1
    log.write_text("")
    return out


def config(n: int) -> dict[str, Any]:
    side = max(d for d in range(1, int(n ** 0.5) + 1) if n % d == 0)  # 1000 = 25 x 40
    lrs = [round(1e-4 * (i + 1), 6) for i in range(side)]
    widths = list(range(1, n // side + 1))
    return {"experiment": "bench-launch", "models": {"m": {"class": "bench_launch:Tiny",
                                                           "params": {"width": 1}}},
            "params": {"lr": 0.1}, "sweep": {"grid": {"lr": lrs, "models.m.params.width": widths}},
            "resources": {"time": "00:05:00", "array_parallelism": 2, "extra": {"hold": True}}}


def naive_per_job(seconds_per: list[float], cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    seconds_per.append(time.perf_counter() - t0)
    return seconds_per[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=20, help="per-job calls timed for the baseline")
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        sys.exit("bench_launch: needs the Slurm cluster (bash scripts/slurm-up.sh)")
    import submitit  # noqa: F401 - imports are paid once per process, not per submission

    from dii_hpc.config import from_dict
    from dii_hpc.launch.status import reconcile
    from dii_hpc.launch.submit import submit
    from dii_hpc.store.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="bench-launch-"))
    log = tmp / "calls.log"
    install_shims(tmp / "bin", log)
    os.chdir(HERE)
    store = Store(tmp / "store")
    loaded = from_dict(config(args.tasks))
    dii = str(Path(sys.executable).with_name("dii-hpc"))
    env = {**os.environ, "DII_HPC_STORE": str(tmp / "cli-store")}

    # The CLI end to end (Python start, imports, YAML) on a separate store, then cancelled.
    import yaml

    cfg_file = tmp / "sweep.yaml"
    cfg_file.write_text(yaml.safe_dump(config(args.tasks)))
    t0 = time.perf_counter()
    out = subprocess.run([dii, "submit", str(cfg_file), "--executor", "slurm"], env=env,
                         capture_output=True, text=True, check=True).stdout
    t_submit_cli = time.perf_counter() - t0
    cli_calls = calls(log)
    subprocess.run(["scancel", out.split("array(s) ")[1].split()[0]], check=False)
    calls(log)

    t0 = time.perf_counter()
    res = submit(loaded, store, "slurm")
    t_submit = time.perf_counter() - t0
    submit_calls = calls(log)
    n = len(res.run_ids)

    t0 = time.perf_counter()
    rows = reconcile(store, "bench-launch")
    t_status = time.perf_counter() - t0
    status_calls = calls(log)
    env = {**os.environ, "DII_HPC_STORE": str(store.root)}
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("dii-hpc")), "status", "bench-launch"],
                   capture_output=True, env=env, check=True)
    t_status_cli = time.perf_counter() - t0
    calls(log)

    # The alternatives a user would script: one sbatch per task, one sacct per job.
    held: list[str] = []
    t0 = time.perf_counter()
    for _ in range(args.naive):
        out = subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "true"],
                             capture_output=True, text=True, check=True)
        held.append(out.stdout.strip().split(";")[0])
    naive_sbatch = (time.perf_counter() - t0) / args.naive
    per_sacct: list[float] = []
    for job in res.job_ids[: args.naive]:
        naive_per_job(per_sacct, ["sacct", "--parsable2", "-j", job])
    naive_sacct = sum(per_sacct) / len(per_sacct)
    calls(log)

    subprocess.run(["scancel", *res.arrays, *held], check=False)
    time.sleep(3)
    t0 = time.perf_counter()
    final = reconcile(store, "bench-launch")
    t_join = time.perf_counter() - t0
    join_calls = calls(log)
    cancelled = sum(r["status"] == "CANCELLED" for r in final)

    lines = [
        "## Launch: sweep submission and status (issue 3)",
        "",
        "Real single-node Slurm 22.05 (scripts/slurm-up.sh); scheduler calls counted by PATH shims.",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(timings scale with it; the call counts do not).",
        "",
        "| figure | dii-hpc | target | alternative (user script) | ratio |",
        "|---|---|---|---|---|",
        f"| {n}-task sweep: expand + {n} PENDING records + submit | {t_submit:.2f} s, "
        f"{sum(submit_calls.values())} scheduler calls ({_fmt(submit_calls)}), "
        f"{len(res.arrays)} array | <= 2 s, <= 2 calls | {n} x sbatch: "
        f"{naive_sbatch * n:.1f} s ({naive_sbatch * 1000:.0f} ms/call measured over {args.naive}), "
        f"{n} calls | {naive_sbatch * n / t_submit:.0f}x faster |",
        f"| same, `dii-hpc submit sweep.yaml` CLI (incl. Python start, imports) | "
        f"{t_submit_cli:.2f} s, {sum(cli_calls.values())} calls ({_fmt(cli_calls)}) | | | "
        f"{naive_sbatch * n / t_submit_cli:.0f}x faster |",
        f"| `status` over {len(rows)} tasks (in-process) | {t_status:.2f} s, "
        f"{sum(status_calls.values())} call(s) ({_fmt(status_calls)}) | <= 1 s, 1 sacct | "
        f"{len(rows)} x sacct -j: {naive_sacct * len(rows):.1f} s ({naive_sacct * 1000:.0f} ms/call) | "
        f"{naive_sacct * len(rows) / t_status:.0f}x faster |",
        f"| `dii-hpc status` CLI over {len(rows)} tasks (incl. Python start) | {t_status_cli:.2f} s | "
        "| | |",
        f"| status after cancel: join {cancelled} sacct records into run.json | {t_join:.2f} s, "
        f"{_fmt(join_calls)} | (one-off, then cached in run.json) | | |",
    ]
    path = write_section("launch", lines)
    print("\n".join(lines))
    print(f"\nwritten {path}")
    shutil.rmtree(tmp, ignore_errors=True)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


if __name__ == "__main__":
    main()
