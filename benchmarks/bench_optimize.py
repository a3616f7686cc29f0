"""Adaptive-sweep figures: what a trial costs besides its own training, and how few scheduler
calls a study makes (issue 22); how often a study finds a known optimum (issue 26).

1. Per-trial overhead in one worker, in process: claim (claim lock, recovery pass, ask),
   run bookkeeping (create the run, start it with manifest and sections, end it) and tell,
   against the trial's own time (a train_function that sleeps ``--trial-s``), with the store
   on local disk and (``--shared DIR``) on the GlusterFS mount.
2. On Slurm (when sbatch answers): ``--trials`` trials over ``--workers`` workers submitted
   with `dii-hpc submit`, scheduler calls counted by PATH shims (as bench_launch.py does),
   against one sbatch job per trial, the way a user without a study server scripts it.
3. Sampler quality (`_sampler_quality.py`): dii-hpc's sampler (`study.make_sampler`, what a
   study uses) beside Optuna's default TPESampler and RandomSampler on the same seeds, over
   5 objectives (one with a categorical param, one noisy), budgets 20/50/100, 1 and 4
   workers; variants of the TPE settings; then ``--e2e-seeds`` real local adaptive sweeps
   over ``lr`` x ``models.m.params.width`` (`dii-hpc submit`'s path, 4 worker processes).
    .venv/bin/python benchmarks/bench_optimize.py [--trials 48] [--workers 4] [--trial-s 0.5]
        [--shared /mnt/dii-shared] [--no-slurm] [--seeds 40] [--variant-seeds 30] [--e2e-seeds 5]
        [--overhead-only]
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


class WidthBowl:
    """The end-to-end model: its width is a constructor param (`models.m.params.width`), and
    its score is `_sampler_quality.bowl` (lr and width both matter)."""

    def __init__(self, width: int = 8) -> None:
        self.width = width

    def train_function(self, run: Any = None, lr: float = 0.01, **_: Any) -> dict[str, float]:
        from _sampler_quality import bowl

        score = bowl({"lr": lr, "width": self.width})
        for step in range(3):  # a learning curve ending at the score
            run.log_metric("score", score - 0.1 * (2 - step), step=step)
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
    from dii_hpc.launch import submit as sub
    from dii_hpc.launch.optimize import study as studymod
    from dii_hpc.launch.optimize import trials as trialsmod
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
    # a claim tells the trial its worker ran before it (the last claim, which finds nothing
    # left, tells the last trial: counted too, with its pass over the study)
    claim = sum(phases["claim"]) / n
    trial = sum(phases["trial"]) / n
    tell = sum(phases["tell"]) / n
    return {"n": n, "wall": wall, "claim": claim, "open_run": sum(phases["open_run"]) / n,
            "tell": tell, "train": train, "overhead": claim + trial - train,
            "end_run": trial - train - sum(phases["open_run"]) / n}


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


def end_to_end(root: Path, seeds: int, budget: int, parallel: int) -> list[dict[str, Any]]:
    """Real local adaptive sweeps (worker processes, the study in a store) over lr x the
    model's constructor width: the best trial, its regret and fANOVA's width importance."""
    from _sampler_quality import LR, WIDTH

    from dii_hpc.config import from_dict
    from dii_hpc.launch import submit as sub
    from dii_hpc.launch.optimize import view as studyview
    from dii_hpc.store.store import Store

    store, out = Store(root), []
    for seed in range(seeds):
        exp = f"e2e-{seed}"
        cfg = {"experiment": exp,
               "models": {"m": {"class": "bench_optimize:WidthBowl", "params": {"width": 8}}},
               "params": {"lr": 0.01}, "resources": {"sys_metrics_s": 0},
               "sweep": {"optimize": {"metric": "score", "direction": "maximize",
                                      "n_trials": budget, "parallel": parallel, "seed": seed,
                                      "space": {"lr": LR, "models.m.params.width": WIDTH}}}}
        sub.wait_local(sub.submit(from_dict(cfg), store, "local").submission_id)
        shown = studyview.summary(store, exp)
        best = shown["best"]
        out.append({"seed": seed, "regret": 1.0 - best["value"], "lr": best["params"]["lr"],
                    "width": best["params"]["models.m.params.width"],
                    "importance": (shown["importances"] or {}).get("models.m.params.width")})
    return out


def quality(seeds: int, variant_seeds: int, e2e_seeds: int, tmp: Path) -> list[str]:
    """Section 3: the tables of sampler quality (see `_sampler_quality`)."""
    import _sampler_quality as q
    import optuna

    head = q.measure(q.SAMPLERS, [20, 50, 100], [1, 4], seeds)
    names = list(q.SAMPLERS)
    lines = [
        "## Adaptive sweeps: how often a study finds the optimum (issue 26)",
        "",
        f"Each study simulated in one process as its workers run it (1 or 4 workers, each with "
        f"its own sampler seeded as a worker is, asking while the others' trials run, a random "
        f"one finishing next), {seeds} seeds, the same seeds for every sampler. Cell: share of "
        "seeds whose best trial is within 0.175 of the optimum (noisy objective: its true "
        "value), then the median regret. dii-hpc = `study.make_sampler` "
        f"({optuna_desc()}); Optuna {optuna.__version__}'s default TPESampler is multivariate "
        "with the constant liar and 10 random trials first (Optuna 4's was univariate without "
        "the liar: a variant below).",
        "",
        "| objective | budget | workers | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for obj in q.OBJECTIVES:
        for budget in (20, 50, 100):
            for par in (1, 4):
                cells = [head[(obj.name, n, budget, par)] for n in names]
                lines.append(f"| {obj.name} | {budget} | {par} | " + " | ".join(
                    f"{c.hits:.0%} ({c.median:.3f})" for c in cells) + " |")
    lines += ["", *_summary(head, names, q), "", _verdict(head, names, q)]
    lines += ["", *_variants(q, variant_seeds)]
    if e2e_seeds:
        lines += ["", *_e2e_lines(end_to_end(tmp / "e2e-store", e2e_seeds, 20, 4), head, q)]
    return lines


def optuna_desc() -> str:
    from dii_hpc.launch.optimize import samplers

    return samplers.describe_sampler({"sampler": "tpe", "n_trials": 20}) + " at 20 trials"


def _summary(head: dict[Any, Any], names: list[str], q: Any) -> list[str]:
    """Per budget, over every objective and worker count: hits and paired differences."""
    ours, theirs = names[0], names[1]
    out = ["| budget | " + " | ".join(f"{n}: seeds found" for n in names)
           + " | seeds only dii-hpc found / only Optuna's TPE found |",
           "|---|" + "---|" * (len(names) + 1)]
    for budget in (20, 50, 100):
        keys = [(o.name, par, o.tolerance) for o in q.OBJECTIVES for par in (1, 4)]
        found = [sum(sum(r <= tol for r in head[(o, n, budget, par)].regrets)
                     for o, par, tol in keys) for n in names]
        total = sum(len(head[(o, ours, budget, par)].regrets) for o, par, _ in keys)
        a = b = 0
        for o, par, tol in keys:
            x, y = q.paired(head[(o, ours, budget, par)].regrets,
                            head[(o, theirs, budget, par)].regrets, tol)
            a, b = a + x, b + y
        out.append(f"| {budget} | " + " | ".join(f"{f / total:.1%}" for f in found)
                   + f" | {a} / {b} |")
    return out


def _verdict(head: dict[Any, Any], names: list[str], q: Any) -> str:
    """Whether dii-hpc's settings find the optimum at least as often as Optuna's default TPE
    at every budget (on the same seeds): what keeping them as the default rests on."""
    ours, theirs = names[0], names[1]
    worse = [b for b in (20, 50, 100)
             if sum(head[(o.name, ours, b, par)].hits for o in q.OBJECTIVES for par in (1, 4))
             < sum(head[(o.name, theirs, b, par)].hits for o in q.OBJECTIVES for par in (1, 4))]
    if not worse:
        return (f"Verdict: {ours} finds the optimum at least as often as {theirs} at every "
                "budget, on the same seeds: its settings stay the default.")
    return (f"Verdict: {theirs} finds the optimum more often at {', '.join(map(str, worse))} "
            "trials: see the TPE settings below before keeping dii-hpc's.")


def _variants(q: Any, seeds: int) -> list[str]:
    """Mean share of seeds found over the objectives, per TPE setting, budget and workers."""
    cols = [(b, par) for b in (20, 50) for par in (1, 4, 8)]
    res = q.measure(q.VARIANTS, [20, 50], [1, 4, 8], seeds)
    out = [f"TPE settings, share of seeds found averaged over the {len(q.OBJECTIVES)} objectives "
           f"({seeds} seeds; \"1/4\": a quarter of the budget, 4 to 10, random trials first):",
           "", "| setting | " + " | ".join(f"{b} trials, {par} worker(s)" for b, par in cols)
           + " |", "|---|" + "---|" * len(cols)]
    for name in q.VARIANTS:
        cells = [sum(res[(o.name, name, b, par)].hits for o in q.OBJECTIVES) / len(q.OBJECTIVES)
                 for b, par in cols]
        out.append(f"| {name} | " + " | ".join(f"{c:.1%}" for c in cells) + " |")
    return out


def _e2e_lines(rows: list[dict[str, Any]], head: dict[Any, Any], q: Any) -> list[str]:
    sim = head[(q.OBJECTIVES[0].name, next(iter(q.SAMPLERS)), 20, 4)]
    found = sum(r["regret"] <= 0.175 for r in rows)
    out = [f"End to end: {len(rows)} real local adaptive sweeps (`dii-hpc submit`'s path: 4 "
           "worker processes, the study's journal in a store, a run per trial) over `lr` x "
           "`models.m.params.width` of `WidthBowl` (the bowl above; the config's width is 8, "
           "the optimum 24), 20 trials each: the best trial's width and fANOVA's importance "
           "of width (`sweep show`), which a width that never reached the model leaves at 0.",
           "",
           "| seed | best regret | its lr | its width | width importance |",
           "|---|---|---|---|---|"]
    for r in rows:
        imp = "-" if r["importance"] is None else f"{r['importance']:.2f}"
        out.append(f"| {r['seed']} | {r['regret']:.3f} | {r['lr']:.2e} | {r['width']} | {imp} |")
    out += ["", f"{found} of {len(rows)} within 0.175 of the optimum; the simulation above gives "
            f"{sim.hits:.0%} for this objective at 20 trials and 4 workers."]
    return out


def _row(where: str, r: dict[str, float]) -> str:
    share = r["overhead"] / (r["overhead"] + r["train"])
    return (f"| {where} | {r['n']} | {r['overhead'] * 1000:.0f} ms (claim with the tell "
            f"{r['claim'] * 1000:.0f}, of which tell {r['tell'] * 1000:.0f}; start run "
            f"{r['open_run'] * 1000:.0f}, end run {r['end_run'] * 1000:.0f}) | "
            f"{r['train'] * 1000:.0f} ms | {share:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trial-s", type=float, default=0.5, help="each trial's own time")
    parser.add_argument("--shared", type=Path, default=None, help="a GlusterFS/NFS folder")
    parser.add_argument("--naive", type=int, default=5, help="one-trial jobs timed (Slurm)")
    parser.add_argument("--no-slurm", action="store_true")
    parser.add_argument("--seeds", type=int, default=40, help="seeds per sampler quality cell")
    parser.add_argument("--variant-seeds", type=int, default=30)
    parser.add_argument("--e2e-seeds", type=int, default=5, help="real local studies")
    parser.add_argument("--overhead-only", action="store_true",
                        help="section 1 only, printed (the report is not rewritten)")
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
        "the tell of the worker's previous trial, recovery pass, ask: one batch of the "
        "journal), start run (record, manifest, sections), end run (flush, end state with "
        "the trial section). Target (issue 29): at most 40 ms per trial on GlusterFS.",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "| store | trials | overhead per trial | trial's own time | overhead share |",
        "|---|---|---|---|---|",
        *[_row(where, r) for where, r in results.items()],
    ]
    if args.overhead_only:
        print("\n".join(lines))
        shutil.rmtree(tmp, ignore_errors=True)
        return
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
    lines += ["", *quality(args.seeds, args.variant_seeds, args.e2e_seeds, tmp)]
    path = write_section("optimize", lines)
    print("\n".join(lines))
    print(f"\nwritten {path}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
