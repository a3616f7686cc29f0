"""Pipeline figures (issue 18): a 1,000-task sweep plus 5 downstream stages queued at once.

Runs against the real cluster of scripts/slurm-up.sh. Scheduler calls are counted by PATH
shims (sbatch, scontrol, sacct, squeue, scancel) as in bench_launch.py, so submitit's own
calls count too. The sweep array is submitted held (--hold), so the stages after it wait on
their dependencies and nothing runs; everything is cancelled at the end.
    .venv/bin/python benchmarks/bench_pipeline.py [--tasks 1000]

Compared with what a user scripts instead: one sbatch per task and stage (the per-task
dependency chain), and "wait, then submit" (a login-node process that lives as long as the
sweep and polls the scheduler until it ends).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_section  # noqa: E402
from bench_launch import calls, config, install_shims  # noqa: E402

STAGES = 5


def pipeline_file(folder: Path, n: int) -> Path:
    """train (n tasks) -> best -> register -> gate -> promote -> site."""
    sweep = config(n)
    sweep["experiment"] = "bench-pipeline"
    sweep["models"]["m"]["loader"] = {"factory": "bench_launch:Tiny"}
    (folder / "sweep.yaml").write_text(json.dumps(sweep))
    (folder / "policy.yaml").write_text(json.dumps({"training": {"lr": ">= 0"}}))
    policy = str(folder / "policy.yaml")
    stages = {
        "train": {"sweep": str(folder / "sweep.yaml")},
        "best": {"select": {"from": "train", "metric": "val_acc"}},
        "reg": {"register": {"name": "bench", "from": "best"}},
        "gate": {"gate": {"name": "bench", "to": "champion", "policy": policy}, "needs": ["reg"]},
        "promote": {"promote": {"name": "bench", "to": "champion", "policy": policy},
                    "needs": ["gate"]},
        "site": {"report": {}, "needs": ["promote"]},
    }
    path = folder / "pipeline.yaml"
    path.write_text(json.dumps({"pipeline": "bench", "stages": stages}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=20, help="sbatch calls timed for the baseline")
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        sys.exit("bench_pipeline: needs the Slurm cluster (bash scripts/slurm-up.sh)")
    import submitit  # noqa: F401 - imports are paid once per process, not per submission

    from dii_hpc.pipeline import status as pstatus
    from dii_hpc.pipeline import submit
    from dii_hpc.store.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    log = tmp / "calls.log"
    install_shims(tmp / "bin", log)
    os.chdir(HERE)
    path = pipeline_file(tmp, args.tasks)
    dii = str(Path(sys.executable).with_name("dii-hpc"))

    # The CLI end to end (Python start, imports, checks) on a store of its own.
    env = {**os.environ, "DII_HPC_STORE": str(tmp / "cli-store")}
    t0 = time.perf_counter()
    out = subprocess.run([dii, "pipeline", "submit", str(path), "--executor", "slurm"], env=env,
                         capture_output=True, text=True, check=True).stdout
    t_cli = time.perf_counter() - t0
    cli_calls = calls(log)
    subprocess.run([dii, "pipeline", "cancel", out.strip().splitlines()[-1]], env=env,
                   capture_output=True, check=False)
    calls(log)

    store = Store(tmp / "store")
    t0 = time.perf_counter()
    res = submit.submit(path, store, "slurm")
    t_submit = time.perf_counter() - t0
    submit_calls = calls(log)
    jobs = [j for r in res.stages.values() for j in r.jobs]
    queued = subprocess.run(["squeue", "-h", "-o", "%i %E", "-j", ",".join(jobs)],
                            capture_output=True, text=True, check=False).stdout
    held = sum("afterok:" in line for line in queued.splitlines())
    calls(log)

    t0 = time.perf_counter()
    view = pstatus.status(store, res.id)
    t_status = time.perf_counter() - t0
    status_calls = calls(log)

    # The per-task alternative: one sbatch per job (timed on a sample of held jobs).
    sample: list[str] = []
    t0 = time.perf_counter()
    for _ in range(args.naive):
        done = subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "true"],
                              capture_output=True, text=True, check=True)
        sample.append(done.stdout.strip().split(";")[0])
    per_sbatch = (time.perf_counter() - t0) / args.naive
    subprocess.run(["scancel", *sample], check=False)
    pstatus.cancel(store, res.id)
    calls(log)
    naive = (args.tasks + STAGES) * per_sbatch

    lines = [
        "## Pipeline: a sweep plus downstream stages, queued at once (issue 18)",
        "",
        "Real Slurm 22.05 (scripts/slurm-up.sh); scheduler calls counted by PATH shims. The "
        "sweep is held, so the stages wait on their dependencies; all cancelled afterwards.",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "| figure | dii-hpc | alternative (user script) | ratio |",
        "|---|---|---|---|",
        f"| `pipeline submit`: {args.tasks}-task sweep + {STAGES} stages (in-process) | "
        f"{t_submit:.2f} s, {sum(submit_calls.values())} scheduler calls ({_fmt(submit_calls)}), "
        f"{held} job(s) held by afterok | {args.tasks + STAGES} x sbatch (a job per task and "
        f"stage): {naive:.1f} s ({per_sbatch * 1000:.0f} ms/call over {args.naive}) | "
        f"{naive / t_submit:.1f}x faster |",
        f"| same, `dii-hpc pipeline submit` CLI (Python start, imports, stage checks) | "
        f"{t_cli:.2f} s, {sum(cli_calls.values())} calls ({_fmt(cli_calls)}) | | "
        f"{naive / t_cli:.1f}x faster |",
        "| login-node process after submit | exits at once (0 s) | \"wait, then submit\": "
        "alive for the whole sweep, polling sacct | - |",
        f"| `pipeline status` over {len(view['stages'])} stages, {len(jobs)} job ids | "
        f"{t_status:.2f} s, {sum(status_calls.values())} call(s) ({_fmt(status_calls)}) | one "
        "sacct per stage | |",
    ]
    section = write_section("pipeline", lines)
    print("\n".join(lines))
    print(f"\nwritten {section}")
    shutil.rmtree(tmp, ignore_errors=True)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


if __name__ == "__main__":
    main()
