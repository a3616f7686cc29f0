"""Reliability figures of issue 9, on the real cluster; writes reports/reliability.md.

    .venv/bin/python scripts/reliability.py [--tasks 64] [--points 20000] [--kills 100]
        [--root /mnt/dii-shared/reliability --setup "GlusterFS store, 3-node Slurm"]

Every store is made under --root (default: the system's temp folder, a local disk); pointing
it at a GlusterFS mount (`scripts/sharedfs-up.sh`) with `slurm-up.sh --nodes 3` reruns the
same trials on a networked store with array tasks spread over the nodes. Each setup is its
own section of reports/reliability.md: a rerun replaces its own section and keeps the others.

1. N array tasks write P points x 3 keys each into one experiment while `store compact`
   and `report build` run in a loop: every point must be there exactly once.
2. K writers killed with SIGKILL at random moments: the store stays readable, only points
   after the last flush are missing, and `dii-hpc status` shows those runs FAILED.
3. A requeue storm: running array tasks are requeued 3 times each; every run finishes
   once with no duplicated steps.
4. (#14) SIGTERM twice, a millisecond apart, to writers with a large buffer (the second lands
   in the flush): none hangs, every run KILLED, every logged point stored.
5. (#14) Ctrl-C (SIGINT to the process group) of `dii-hpc run --executor local -- python
   sleepy.py`: the launcher and the group both signal the child; every point it logged is stored.
6. (#14) `dii-hpc cancel` of `dii-hpc run --executor slurm -- python sleepy.py`: the run ends
   CANCELLED by itself with every point logged before the cancel stored.
Needs `bash scripts/slurm-up.sh` first (parts 1, 3 and 6).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DII = str(Path(sys.executable).with_name("dii-hpc"))
ROOT: str | None = None  # --root: the folder every trial's store is made in (None: temp)


def _nodes(rows: list[dict]) -> str:
    """The Slurm nodes the runs ran on, from their sacct records (`node1, node2, node3`)."""
    from dii_hpc.slurm.nodelist import expand

    names = {n for r in rows for n in expand((r.get("slurm") or {}).get("node_list") or "")}
    return ", ".join(sorted(names)) or "?"


def _config(experiment: str, tasks: int, points: int, seconds: float, time_limit: str) -> dict:
    return {
        "experiment": experiment,
        "models": {"w": {"class": "dii_hpc.examples.stress:PointWriter",
                         "params": {"points": points, "seconds": seconds}}},
        "params": {"seed": 0},
        "sweep": {"grid": {"seed": list(range(tasks))}},
        "resources": {"partition": "debug", "time": time_limit, "cpus_per_task": 1,
                      "mem": "300M", "array_parallelism": tasks},
    }


def _submit(store, raw: dict):  # noqa: ANN001, ANN202
    from dii_hpc.config import from_dict
    from dii_hpc.launch.submit import submit

    return submit(from_dict(raw, source="reliability"), store, "slurm")


def _wait(store, experiment: str, run_ids: list[str], limit_s: float) -> list[dict]:  # noqa: ANN001
    from dii_hpc.launch.status import ACTIVE, reconcile

    deadline = time.time() + limit_s
    while True:
        rows = [r for r in reconcile(store, experiment) if r["run_id"] in set(run_ids)]
        if not any(r["status"] in ACTIVE for r in rows) or time.time() > deadline:
            return rows
        time.sleep(3)


def _verify(store, experiment: str, points: int) -> tuple[int, int, int]:  # noqa: ANN001
    """(runs with every point exactly once, missing points, duplicated steps)."""
    from dii_hpc.examples.stress import KEYS, expected

    complete = missing = dupes = 0
    for rec in store.records(experiment):
        seed = int(rec["params"]["seed"])
        ok = True
        for key in KEYS:
            data = store.metric_array(rec["run_id"], key)
            steps = data[:, 0].astype(int)
            dupes += len(steps) - len(np.unique(steps))
            missing += points - len(np.unique(steps))
            want = np.array([expected(seed, key, s) for s in range(points)])
            ok &= len(steps) == points and np.array_equal(data[:, 1], want)
        complete += ok
    return complete, missing, dupes


def part_concurrent(tasks: int, points: int) -> list[str]:
    import dii_hpc
    from dii_hpc.report import build_site
    from dii_hpc.store.summary import compact

    store = dii_hpc.Store(tempfile.mkdtemp(prefix="rel-store-", dir=ROOT))
    res = _submit(store, _config("concurrent", tasks, points, 5.0, "00:10:00"))
    stop, side = threading.Event(), {"compact": 0, "report": 0, "errors": []}

    def churn() -> None:
        while not stop.is_set():
            try:
                compact(store, "concurrent")
                side["compact"] += 1
                build_site(store, Path(store.root) / "site")
                side["report"] += 1
            except Exception as err:  # noqa: BLE001 - recorded as a failure of the figure
                side["errors"].append(repr(err))
            time.sleep(1)

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    t0 = time.time()
    rows = _wait(store, "concurrent", res.run_ids, 1800)
    stop.set()
    t.join()
    compact(store, "concurrent")
    finished = sum(r["status"] == "FINISHED" for r in rows)
    complete, missing, dupes = _verify(store, "concurrent", points)
    listed = len(store.runs("concurrent"))
    return [f"| {tasks} array tasks x {points:,} points x 3 keys, compact + report build "
            f"looping ({side['compact']} compactions, {side['report']} builds, "
            f"{len(side['errors'])} errors; tasks ran on {_nodes(store.records('concurrent'))}) | {finished}/{tasks} FINISHED, {complete}/{tasks} "
            f"complete, {missing} missing, {dupes} duplicated, {listed} listed after compact "
            f"| {time.time() - t0:.0f} s | scripts/reliability.py part 1 |"]


_VICTIM = """
import sys, dii_hpc
with dii_hpc.start_run("victims", flush_points=500, flush_interval=3600) as run:
    print(run.id, flush=True)
    s = 0
    while True:
        run.log_metric("x", float(s), step=s)
        s += 1
        if s % 500 == 0:
            run.flush()
            print(s, flush=True)
"""


def part_sigkill(kills: int) -> list[str]:
    import dii_hpc

    root = tempfile.mkdtemp(prefix="rel-kill-", dir=ROOT)
    env = {**os.environ, "DII_HPC_STORE": root}
    rng = random.Random(0)
    lost_ok = readable = 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", _VICTIM], stdout=subprocess.PIPE,
                                text=True, env=env)
        rid = proc.stdout.readline().strip()
        flushed, target = 0, rng.randint(0, 6) * 500
        while flushed < target:
            flushed = int(proc.stdout.readline())
        time.sleep(rng.random() * 0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        hist = dii_hpc.Store(root).metric_array(rid, "x") if target else None
        if hist is None or (len(hist) >= flushed and np.array_equal(hist[:, 1], np.arange(len(hist)))):
            lost_ok += 1
    status = subprocess.run([DII, "--store", root, "status", "victims"], capture_output=True, text=True)
    store = dii_hpc.Store(root)
    df = store.runs("victims")
    readable = len(df)
    failed = int((df["status"] == "FAILED").sum())
    return [f"| {kills} writers killed with SIGKILL at random moments | store readable "
            f"({readable}/{kills} runs listed), {lost_ok}/{kills} kept every flushed point, "
            f"`status` (exit {status.returncode}) shows {failed}/{kills} FAILED, "
            f"{int((df['status'] == 'RUNNING').sum())} RUNNING | - | scripts/reliability.py part 2 |"]


def part_requeue(tasks: int, points: int) -> list[str]:
    import dii_hpc
    store = dii_hpc.Store(tempfile.mkdtemp(prefix="rel-requeue-", dir=ROOT))
    res = _submit(store, _config("requeue", tasks, points, 40.0, "00:10:00"))
    jobs = list(dict.fromkeys(res.job_ids))
    requeued = 0
    for _round in range(3):
        time.sleep(8)
        for job in jobs:
            out = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
            requeued += out.returncode == 0
    rows = _wait(store, "requeue", res.run_ids, 1800)
    finished = sum(r["status"] == "FINISHED" for r in rows)
    complete, missing, dupes = _verify(store, "requeue", points)
    attempts = [store.run(r)["attempts"] for r in res.run_ids]
    return [f"| requeue storm: {tasks} running array tasks, `scontrol requeue` 3 times each "
            f"({requeued} requeues accepted) | {finished}/{tasks} FINISHED once, {complete}/{tasks} "
            f"complete, {missing} missing, {dupes} duplicated steps, attempts per run "
            f"{min(attempts)}-{max(attempts)} | - | scripts/reliability.py part 3 |"]


_BIG_BUFFER = """
import dii_hpc, time
with dii_hpc.start_run("double", flush_interval=3600, flush_points=10**8) as run:
    for s in range(300_000):
        run.log_metric("x", float(s), step=s)
    print(run.id, flush=True)
    time.sleep(120)
"""
SLEEPY = REPO / "tests" / "launch" / "fixtures" / "sleepy.py"


def _logged(path: Path) -> list[int]:
    """Steps sleepy.py says it logged (its first line is its pid)."""
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [int(x) for x in lines[1:]]


def _stored(store, rid: str) -> set[int]:  # noqa: ANN001
    return set(store.metric_array(rid, "x")[:, 0].astype(int).tolist()) if "x" in store.metric_keys(rid) else set()


def _signal_row(what: str, trials: int, hung: int, ends: list[str], want: str, logged: int,
                lost: int, wall: float, part: int) -> str:
    return (f"| {what} ({trials} trials) | {hung} hung, {ends.count(want)}/{trials} {want}, "
            f"{logged - lost}/{logged} logged points stored ({lost} lost) | {wall:.0f} s | "
            f"scripts/reliability.py part {part} |")


def part_double_sigterm(trials: int) -> list[str]:
    import dii_hpc

    root = tempfile.mkdtemp(prefix="rel-double-", dir=ROOT)
    env = {**os.environ, "DII_HPC_STORE": root}
    hung, ends, lost, t0 = 0, [], 0, time.time()
    for _ in range(trials):
        proc = subprocess.Popen([sys.executable, "-c", _BIG_BUFFER], stdout=subprocess.PIPE, text=True, env=env)
        rid = proc.stdout.readline().strip()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            hung += 1
            proc.kill()
        store = dii_hpc.Store(root)
        ends.append(store.run(rid)["status"])
        lost += 300_000 - len(_stored(store, rid))
    return [_signal_row("SIGTERM twice 1 ms apart, the second inside the flush of 300,000 points",
                        trials, hung, ends, "KILLED", 300_000 * trials, lost, time.time() - t0, 4)]


def _sleepy(root: str, experiment: str, executor: str, progress: Path) -> subprocess.Popen:
    return subprocess.Popen([DII, "--store", root, "run", "--executor", executor, "-e", experiment,
                             "--sys-metrics-s", "0", *(["--time", "5"] if executor == "slurm" else []),
                             "--", sys.executable, str(SLEEPY), str(progress)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_logged(progress: Path, n: int, limit_s: float = 240) -> list[int]:
    deadline = time.time() + limit_s
    while len(_logged(progress)) < n and time.time() < deadline:
        time.sleep(0.05)
    return _logged(progress)


def part_ctrl_c_group(trials: int) -> list[str]:
    import dii_hpc

    root, hung, ends, logged, lost, t0 = tempfile.mkdtemp(prefix="rel-ctrlc-", dir=ROOT), 0, [], 0, 0, time.time()
    for i in range(trials):
        progress = Path(root) / f"progress{i}.txt"
        proc = _sleepy(root, f"ctrlc{i}", "local", progress)
        steps = _wait_logged(progress, 5 + i % 20)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            hung += 1
            os.killpg(proc.pid, signal.SIGKILL)
        store = dii_hpc.Store(root)
        (rec,) = store.records(f"ctrlc{i}")
        ends.append(rec["status"])
        logged += len(steps)
        lost += len(set(steps) - _stored(store, rec["run_id"]))
    return [_signal_row("Ctrl-C (SIGINT to the group) of `dii-hpc run --executor local -- python "
                        "sleepy.py`", trials, hung, ends, "KILLED", logged, lost, time.time() - t0, 5)]


def part_cancel_slurm(trials: int) -> list[str]:
    import dii_hpc

    root, hung, ends, logged, lost, t0 = tempfile.mkdtemp(prefix="rel-cancel-", dir=ROOT), 0, [], 0, 0, time.time()
    for i in range(trials):
        progress = Path(root) / f"progress{i}.txt"
        assert _sleepy(root, f"cancel{i}", "slurm", progress).wait(timeout=120) == 0
        store = dii_hpc.Store(root)
        (rec,) = store.records(f"cancel{i}")
        steps = _wait_logged(progress, 10 + i % 20)
        subprocess.run([DII, "--store", root, "cancel", rec["run_id"]], capture_output=True, check=True)
        deadline = time.time() + 60
        while store.run(rec["run_id"])["status"] == "RUNNING" and time.time() < deadline:
            time.sleep(0.2)
        end = store.run(rec["run_id"])["status"]
        hung += end == "RUNNING"
        ends.append(end)
        logged += len(steps)
        lost += len(set(steps) - _stored(store, rec["run_id"]))
    return [_signal_row("`dii-hpc cancel` of `dii-hpc run --executor slurm -- python sleepy.py`",
                        trials, hung, ends, "CANCELLED", logged, lost, time.time() - t0, 6)]


def merge_section(text: str, setup: str, section: str) -> str:
    """reports/reliability.md with the `## setup` section replaced (or added), others kept."""
    head, *sections = text.split("\n## ")
    kept = [f"## {body}".rstrip() for body in sections if body.split("\n", 1)[0].strip() != setup]
    return "\n\n".join(["# Reliability", *kept, section.rstrip()]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--signals", type=int, default=20, help="trials of each signal part (4-6)")
    ap.add_argument("--parts", default="1,2,3,4,5,6")
    ap.add_argument("--root", default=None, help="folder for the trials' stores (a shared mount)")
    ap.add_argument("--setup", default="Local disk, single-node Slurm",
                    help="the section of reports/reliability.md this run replaces")
    args = ap.parse_args()
    global ROOT
    if args.root:
        Path(args.root).mkdir(parents=True, exist_ok=True)
        ROOT = args.root
    parts = set(args.parts.split(","))
    rows = []
    if "1" in parts:
        rows += part_concurrent(args.tasks, args.points)
        print(rows[-1], flush=True)
    if "2" in parts:
        rows += part_sigkill(args.kills)
        print(rows[-1], flush=True)
    if "3" in parts:
        rows += part_requeue(8, 2_000)
        print(rows[-1], flush=True)
    for part, fn in (("4", part_double_sigterm), ("5", part_ctrl_c_group), ("6", part_cancel_slurm)):
        if part in parts:
            rows += fn(args.signals)
            print(rows[-1], flush=True)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _common import machine

    out = REPO / "reports" / "reliability.md"
    section = "\n".join([
        f"## {args.setup}", "", f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"on {machine()}; stores under `{ROOT or tempfile.gettempdir()}`.", "",
        "| trial | outcome | wall time | source |", "|---|---|---|---|", *rows, ""])
    out.write_text(merge_section(out.read_text() if out.exists() else "", args.setup, section))
    print("wrote", out)


if __name__ == "__main__":
    main()
