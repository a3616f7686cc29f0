"""Reference models for LiRA/RMIA: training them as one array vs one after another, and
the scoring time per 10,000 records.

1. Training: the 16 reference models of `dii-hpc audit attack lira` (the noisy tabular
   MLP that memorises, `--epochs` per model) (a) one after another in this process (what
   `--executor local` does, and what a user's own loop would do), (b) as one array of
   local processes through `launch.backend` (submitit's local executor, every task at
   once), (c) as one Slurm array (`--executor slurm`) when a cluster answers. Each run
   starts from an empty store; wall clock of `reference_training.prepare`, and whether
   every way gives the same model outputs bit for bit (a model's numbers are a function of
   the audit seed, wherever it trains). One torch thread per model (OMP_NUM_THREADS=1): a
   task's fair share of one core, as a Slurm task with cpus_per_task: 1 gets.
2. Scoring: LiRA (online with fixed and per-example variance, offline) and RMIA on
   synthetic outputs of 16 models x 10 classes, from raw outputs to scores, per 10,000
   records (best of 3), and at 10x the records to show it stays linear.
Writes reports/benchmarks_privacy_reference.md.

    .venv/bin/python benchmarks/bench_privacy_reference.py [--n-reference 16] [--epochs 150]
        [--records 10000] [--no-slurm] [--no-report]
    .venv/bin/python benchmarks/bench_privacy_reference.py --tiny     # a check that it runs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads, here and in the tasks

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, write_section  # noqa: E402

RECIPE = {"hidden": 128, "lr": 3e-3, "batch_size": 128}


def _job(n: int, epochs: int, resources: dict[str, Any] | None = None) -> Any:
    from dii_hpc.audit.job import of

    return of({"model": {"factory": "dii_hpc.examples.tabular:noisy_model",
                         "params": {**RECIPE, "epochs": epochs}},
               "data": "dii_hpc.examples.tabular:noisy_data", "seed": 0, "n_samples": 200,
               "experiment": "bench-reference", "resources": {"time": "30", **(resources or {})}},
              "II", "lira", {"n_reference": n})


def train(executor: str, n: int, epochs: int, root: Path, placement: str | None = None,
          resources: dict[str, Any] | None = None) -> tuple[float, np.ndarray, dict[str, Any]]:
    """Wall seconds to train the plan's models from an empty store, their outputs and how
    they were placed (``placement``: DII_HPC_PLACEMENT, else `packing.choose` decides from
    the measured times; ``resources``: the config's, e.g. the array's parallelism)."""
    from dii_hpc.audit.core.data import prepare
    from dii_hpc.audit.privacy.reference import attacks as reference_attacks
    from dii_hpc.audit.privacy.reference import training as reference_training

    store = root / f"store-{executor}-{placement or 'chosen'}-{len(resources or {})}"
    os.environ["DII_HPC_STORE"] = str(store)
    if placement:
        os.environ["DII_HPC_PLACEMENT"] = placement
    else:
        os.environ.pop("DII_HPC_PLACEMENT", None)
    job = _job(n, epochs, resources)
    t0 = time.perf_counter()
    info, _ = reference_training.prepare(job, executor=executor)
    wall = time.perf_counter() - t0
    os.environ.pop("DII_HPC_PLACEMENT", None)
    assert info is not None and info["trained"] == n, info
    prep = prepare(job)
    plan = reference_attacks.request_plan({"set": "halves", "n_reference": n}, job, prep)
    return wall, plan.outputs(), info


def start_cost() -> dict[str, float]:
    """Seconds a fresh task process spends before its first model (best of 3): Python
    alone, then Python with the imports a reference-model task makes."""
    imports = ("import torch, sklearn.linear_model, scipy.stats, submitit; "
               "import dii_hpc.audit.privacy.reference.training, dii_hpc.audit.core.data, "
               "dii_hpc.examples.tabular")

    def run(code: str) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            best = min(best, time.perf_counter() - t0)
        return best

    return {"python": run("pass"), "imports": run(imports)}


def scoring(n_models: int, records: int) -> dict[str, float]:
    """Seconds per call of each scorer on `records` records (raw outputs to scores)."""
    from dii_hpc.audit.privacy.reference import lira, rmia
    from dii_hpc.audit.privacy.reference import models as reference_models

    rng = np.random.default_rng(0)
    classes = 10
    y = rng.integers(0, classes, records)
    ref_out = rng.normal(size=(n_models, records, classes))
    target_out = rng.normal(size=(records, classes))
    keep = reference_models.halves(n_models, records, 0)
    audited = np.arange(records)

    def run_lira(mode: str, fixed: bool) -> Any:
        return lambda: lira.scores(lira.scaled_logit(target_out, y), lira.scaled_logit(ref_out, y),
                                   keep, mode=mode, fixed=fixed)

    def run_rmia(mode: str) -> Any:
        return lambda: rmia.scores(rmia.log_prob(target_out, y), rmia.log_prob(ref_out, y), keep,
                                   audited, mode=mode)

    cases = {"LiRA online, fixed variance": run_lira("online", True),
             "LiRA online, per-example variance": run_lira("online", False),
             "LiRA offline": run_lira("offline", True),
             "RMIA online": run_rmia("online"), "RMIA offline": run_rmia("offline")}
    return {name: best_of(fn, 3) for name, fn in cases.items()}


def slurm_answers() -> bool:
    from dii_hpc.errors import DiiError
    from dii_hpc.launch import backend

    try:
        return backend.choose("auto")[0] == "slurm"
    except DiiError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-reference", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--no-slurm", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="2 models, 3 epochs, 1,000 records")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    if args.tiny:
        args.n_reference, args.epochs, args.records = 2, 3, 1000
    n, lines = args.n_reference, []
    os.environ.setdefault("DII_HPC_CACHE", tempfile.mkdtemp(prefix="dii-bench-cache-"))
    import torch

    torch.set_num_threads(1)
    from dii_hpc.examples.tabular import noisy_model

    noisy_model(**RECIPE, epochs=args.epochs)  # the target, once (every task loads it)
    slurm = not args.no_slurm and slurm_answers()
    cores = len(os.sched_getaffinity(0))
    ways: list[tuple[str, str | None]] = [("local", None), ("processes", None),
                                          ("processes", "array")]
    ways += [("slurm", "1 CPU"), ("slurm", None)] if slurm else []
    # Slurm: as many CPUs at once as this host has (the test bed's nodes share its cores)
    res = {"slurm": {"array_parallelism": cores}, "1 CPU": {"cpus_per_task": 1}}
    with tempfile.TemporaryDirectory(prefix="dii-bench-ref-", dir=os.getcwd()) as tmp:
        runs = {w: train(w[0], n, args.epochs, Path(tmp), None if w[1] == "1 CPU" else w[1],
                         {**res.get(w[0], {}), **res.get(w[1] or "", {})}) for w in ways}
    started = start_cost()
    seq = runs[("local", None)][0]
    what = {("local", None): "in this process, one after another (--executor local)",
            ("processes", None): "this host, placement chosen from the measured times",
            ("processes", "array"): "this host, array of fresh processes (DII_HPC_PLACEMENT=array)",
            ("slurm", "1 CPU"): f"Slurm array, one-CPU tasks (cpus_per_task: 1), {cores} at once",
            ("slurm", None): f"Slurm array, placement chosen, {cores} CPUs at once"}
    lines += [f"## Reference models: {n} LiRA models (noisy tabular MLP, {args.epochs} epochs, "
              f"one torch thread each), {cores} free cores", "",
              f"Target (issue 29): an array within 1.3x of sequential / free cores = "
              f"{seq:.1f} / {cores} = {seq / cores:.2f} s, i.e. {1.3 * seq / cores:.2f} s. "
              "`placement.packing.choose` takes, from the measured time of one model (trained "
              "first in the submitting process) and the measured start of a task, the cheapest "
              "of: workers forked from the submitting process (`placement.forked`), an array "
              "of fresh task processes packed with several models each, or one after another "
              "here (on Slurm: the packed array).", "",
              "| how | chosen | tasks x models | wall s | vs sequential / cores (target <= 1.3) | "
              "submission to first task ready s | to last model kept s | outputs identical |",
              "|---|---|---|---:|---:|---:|---:|---|"]
    for (e, forced), (wall, out, info) in runs.items():
        same = "yes" if np.array_equal(out, runs[("local", None)][1]) else "NO"
        pk = info.get("packing") or {}
        cpus = f", {pk['cpus']} CPUs, {pk['workers']} workers" if pk.get("cpus", 1) > 1 else ""
        shape = (f"{pk['tasks']} x {pk['per_task']}{cpus} (+{info['trained_here']} measured here)"
                 if pk else "-")
        fmt = (lambda v: "-" if v is None else f"{v:.1f}")  # noqa: E731
        lines.append(f"| {what[(e, forced)]} | {info.get('placement', 'here')} | {shape} | "
                     f"{wall:.1f} | {wall / (seq / cores):.2f}x | {fmt(pk.get('start_now_s'))} | "
                     f"{fmt(pk.get('last_end_s'))} | {same} |")
    if not slurm:
        lines.append("\n(no Slurm cluster answered: the Slurm array row is missing)")
    lines += ["", "Why each was chosen (the line `reference_training` prints):", ""]
    lines += [f"- {what[w]}: `{r[2].get('placement_line', 'in this process')}`"
              for w, r in runs.items() if w[0] != "local"]
    lines += ["", f"Per-task start cost, a fresh process on this host (best of 3): Python "
              f"{started['python']:.2f} s; Python + the imports of a reference-model task "
              f"(torch, scikit-learn, scipy, submitit, dii-hpc) {started['imports']:.2f} s; "
              "an array's own (submission to the first task ready: process start, imports, "
              "model and data built; a forked worker: the fork) is in the table."]
    lines += ["", f"## Scoring: {n} reference models x 10 classes, raw outputs to scores "
              "(float64, vectorised), best of 3", "",
              f"| scorer | {args.records:,} records ms | ms per 10,000 | "
              f"{10 * args.records:,} records ms |", "|---|---:|---:|---:|"]
    small, big = scoring(n, args.records), scoring(n, 10 * args.records)
    for name, s in small.items():
        lines.append(f"| {name} | {s * 1e3:.1f} | {s * 1e3 * 10_000 / args.records:.1f} | "
                     f"{big[name] * 1e3:.1f} |")
    print("\n".join(lines))
    if not args.no_report:
        print(f"wrote {write_section('privacy_reference', lines)}")


if __name__ == "__main__":
    main()
