"""Adaptive-sweep figures (issue 22): what a trial costs besides its own training, and how
few scheduler calls a study makes.

1. Per-trial overhead in one worker, in process: claim (claim lock, recovery pass, ask),
   run bookkeeping (create the run, start it with manifest and sections, end it) and tell,
   against the trial's own time (a train_function that sleeps ``--trial-s``), with the store
   on local disk and (``--shared DIR``) on the GlusterFS mount.
2. On Slurm (when sbatch answers): ``--trials`` trials over ``--workers`` workers submitted
   with `dii-hpc submit`, scheduler calls counted by PATH shims (as bench_launch.py does),
   against one sbatch job per trial, the way a user without a study server scripts it.
    .venv/bin/python benchmarks/bench_optimize.py [--trials 48] [--workers 4] [--trial-s 0.5]
        [--shared /mnt/dii-shared] [--no-slurm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_section  # noqa: E402

TRAIN_TIMES: list[float] = []


class Sleepy:
    """The benchmark's model: sleeps, logs a few points, returns its score."""

    def __init__(self, trial_s: float = 0.5) -> None:
        self.trial_s = trial_s

    def train_function(self, run: Any = None, x: float = 0.0, y: float = 0.0,
                       **_: Any) -> dict[str, float]:
        t0 = time.perf_counter()
        time.sleep(self.trial_s)
        score = -(x - 0.3) ** 2 - (y + 0.2) ** 2
        for step in range(5):
            run.log_metric("score", score - 0.1 / (step + 1), step=step)
        TRAIN_TIMES.append(time.perf_counter() - t0)
        return {"score": score}


def config(trials: int, workers: int, trial_s: float, experiment: str) -> dict[str, Any]:
    return {"experiment": experiment,
            "models": {"m": {"class": "bench_optimize:Sleepy", "params": {"trial_s": trial_s}}},
            "params": {"x": 0.0, "y": 0.0},
            "resources": {"time": "00:20:00", "sys_metrics_s": 0},
            "sweep": {"optimize": {"metric": "score", "direction": "maximize",
                                   "n_trials": trials, "parallel": workers, "sampler": "tpe",
                                   "space": {"x": {"uniform": [-1, 1]},
                                             "y": {"uniform": [-1, 1]}}}}}


def timed(phases: dict[str, list[float]], name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name].append(time.perf_counter() - t0)

    return wrapper


def in_process(root: Path, trials: int, trial_s: float) -> dict[str, float]:
    """One worker in this process; each phase timed by wrapping the module functions."""
    import bench_optimize as me  # the module the config names (this file may run as __main__)

    from dii_hpc.config import from_dict
    from dii_hpc.launch import study as studymod
    from dii_hpc.launch import submit as sub
    from dii_hpc.launch import trials as trialsmod
    from dii_hpc.launch.task import TaskRef
    from dii_hpc.store.store import Store

    store = Store(root)
    res = sub.submit(from_dict(config(trials, 1, trial_s, "bench-optimize")), store, "debug")
    sub._CURRENT_JOBS.pop(res.submission_id, None)  # run the worker here, timed, instead
    phases: dict[str, list[float]] = defaultdict(list)
    originals = (trialsmod.claim, trialsmod._open_run, studymod._tell, trialsmod.run_trial)
    trialsmod.claim = timed(phases, "claim", trialsmod.claim)
    trialsmod._open_run = timed(phases, "open_run", trialsmod._open_run)
    studymod._tell = timed(phases, "tell", studymod._tell)
    trialsmod.run_trial = timed(phases, "trial", trialsmod.run_trial)
    me.TRAIN_TIMES.clear()
    t0 = time.perf_counter()
    try:
        trialsmod.work(TaskRef(str(res.plan_file), 0))
    finally:
        trialsmod.claim, trialsmod._open_run, studymod._tell, trialsmod.run_trial = originals
    wall = time.perf_counter() - t0
    n = len(me.TRAIN_TIMES)
    train = sum(me.TRAIN_TIMES) / n
    claim = sum(phases["claim"][:n]) / n  # the last claim finds nothing: not a trial's cost
    trial = sum(phases["trial"]) / n
    tell = sum(phases["tell"]) / n
    return {"n": n, "wall": wall, "claim": claim, "open_run": sum(phases["open_run"]) / n,
            "tell": tell, "train": train, "overhead": claim + trial - train,
            "end_run": trial - train - sum(phases["open_run"]) / n - tell}


def install_shims(folder: Path, log: Path) -> None:
    from bench_launch import install_shims as shims

    shims(folder, log)


def calls(log: Path) -> dict[str, int]:
    from bench_launch import calls as count

    return count(log)


def on_slurm(tmp: Path, trials: int, workers: int, trial_s: float, naive: int) -> dict[str, Any]:
    """`dii-hpc submit --wait` of a study on Slurm: wall time and scheduler calls; then
    ``naive`` one-trial jobs (sbatch + sacct polling until done), timed per job."""
    import yaml

    log = tmp / "calls.log"
    install_shims(tmp / "bin", log)
    store = tmp / "slurm-store"
    cfg = tmp / "study.yaml"
    cfg.write_text(yaml.safe_dump(config(trials, workers, trial_s, "bench-optimize-slurm")))
    dii = str(Path(sys.executable).with_name("dii-hpc"))
    env = {**os.environ, "DII_HPC_STORE": str(store),
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run([dii, "submit", str(cfg), "--executor", "slurm"], env=env,
                          capture_output=True, text=True, check=True)
    submit_calls = calls(log)
    array = proc.stdout.split("array(s) ")[1].split()[0]
    _wait_job(array)
    wall = time.perf_counter() - t0
    waited = calls(log)  # the benchmark's own polling (sacct), not dii-hpc's
    show = subprocess.run([dii, "sweep", "show", "bench-optimize-slurm", "--format", "json"],
                          env=env, capture_output=True, text=True, check=True)
    show_calls = calls(log)
    import json

    done = json.loads(show.stdout)["counts"]["done"]
    per_job = []
    for _ in range(naive):
        t1 = time.perf_counter()
        out = subprocess.run(["sbatch", "--parsable", "--output=/dev/null",
                              "--wrap", f"sleep {trial_s}"],
                             capture_output=True, text=True, check=True)
        _wait_job(out.stdout.strip().split(";")[0])
        per_job.append(time.perf_counter() - t1)
    calls(log)
    del waited
    return {"wall": wall, "submit_calls": submit_calls, "show_calls": show_calls, "done": done,
            "naive_job_s": sum(per_job) / len(per_job) if per_job else float("nan")}


def _wait_job(job: str, poll_s: float = 1.0) -> None:
    """Until sacct has no pending/running step of ``job`` (the array or a plain job)."""
    while True:
        out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job],
                             capture_output=True, text=True, check=False).stdout.split()
        if out and not any(s in ("PENDING", "RUNNING", "REQUEUED") for s in out):
            return
        time.sleep(poll_s)


def _row(where: str, r: dict[str, float]) -> str:
    share = r["overhead"] / (r["overhead"] + r["train"])
    return (f"| {where} | {r['n']} | {r['overhead'] * 1000:.0f} ms (claim {r['claim'] * 1000:.0f}, "
            f"start run {r['open_run'] * 1000:.0f}, end run {r['end_run'] * 1000:.0f}, "
            f"tell {r['tell'] * 1000:.0f}) | {r['train'] * 1000:.0f} ms | {share:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trial-s", type=float, default=0.5, help="each trial's own time")
    parser.add_argument("--shared", type=Path, default=None, help="a GlusterFS/NFS folder")
    parser.add_argument("--naive", type=int, default=5, help="one-trial jobs timed (Slurm)")
    parser.add_argument("--no-slurm", action="store_true")
    args = parser.parse_args()
    os.chdir(HERE)
    tmp = Path(tempfile.mkdtemp(prefix="bench-optimize-"))
    results = {"local disk": in_process(tmp / "store", args.trials, args.trial_s)}
    if args.shared is not None:
        shared = Path(tempfile.mkdtemp(prefix="bench-optimize-", dir=args.shared))
        results[f"shared FS ({args.shared})"] = in_process(shared / "store", args.trials,
                                                           args.trial_s)
        shutil.rmtree(shared, ignore_errors=True)
    lines = [
        "## Adaptive sweeps: per-trial overhead and scheduler calls (issue 22)",
        "",
        f"One worker in process, TPE sampler, 2 float params, {args.trial_s:g} s trials; "
        "overhead = everything a trial costs but its train_function: claim (claim lock, "
        "recovery pass, ask), start run (record, manifest, sections), end run (flush, end "
        "state, trial section), tell.",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "| store | trials | overhead per trial | trial's own time | overhead share |",
        "|---|---|---|---|---|",
        *[_row(where, r) for where, r in results.items()],
    ]
    if not args.no_slurm and shutil.which("sbatch"):
        s = on_slurm(tmp, args.trials, args.workers, args.trial_s, args.naive)
        n_calls = sum(s["submit_calls"].values()) + sum(s["show_calls"].values())
        naive_wall = s["naive_job_s"] * args.trials / args.workers
        lines += [
            "",
            f"| Slurm: {args.trials} trials over {args.workers} workers | dii-hpc study | one "
            "sbatch job per trial | ratio |",
            "|---|---|---|---|",
            f"| scheduler calls (submit + `sweep show`) | {n_calls} ("
            f"{', '.join(f'{k} {v}' for k, v in sorted(s['submit_calls'].items()))}); 0 per "
            f"trial | {args.trials} sbatch + polling | {args.trials / max(n_calls, 1):.0f}x fewer |",
            f"| wall time, submit to last trial ({s['done']} done) | {s['wall']:.1f} s | "
            f"{naive_wall:.1f} s ({s['naive_job_s']:.1f} s per job measured over {args.naive}, "
            f"{args.workers} at a time) | {naive_wall / s['wall']:.1f}x |",
        ]
    path = write_section("optimize", lines)
    print("\n".join(lines))
    print(f"\nwritten {path}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
