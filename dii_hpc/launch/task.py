"""One task of a submission, as it runs on a compute node (or locally).

The task reads its row of the plan (jobs/<submission>/plan.json), rebuilds its resolved config,
resumes its PENDING run record, and lets the configured Executor do the work.  Preemption and
time limits: submitit sends its preempt signal (USR2 unless ``$SUBMITIT_PREEMPT_SIGNAL``
says otherwise) before the end; if every model of the task can
``checkpoint()``/``restore()``, their states travel in the requeued submission and the same run
id continues; otherwise the signal only flushes metrics and Slurm ends the job (TIMEOUT).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dii_hpc.slurm.preempt import preempt_signal

_CURRENT: dict[str, Any] = {}


@dataclass(frozen=True)
class TaskRef:
    """What a job array element needs: the plan file, its row, and any checkpointed state."""

    plan_file: str
    index: int
    restore: dict[str, Any] | None = None


class TaskRunner:
    """The callable submitit pickles for every array element (submitit checkpoint protocol).

    ``catch`` (debug executor) turns a task's exception into its result: the run record
    already says FAILED, and submitit's debug jobs would otherwise drop into pdb.
    """

    def __init__(self, catch: bool = False) -> None:
        self.catch = catch

    def __call__(self, ref: TaskRef) -> dict[str, Any]:
        _guard_preempt()
        if not self.catch:
            return execute(ref)
        try:
            return execute(ref)
        except Exception as err:  # noqa: BLE001
            return {"error": f"{type(err).__name__}: {err}"}

    def checkpoint(self, ref: TaskRef) -> Any:
        """Called by submitit on its preempt signal: the same task again, with the models' states."""
        import submitit

        ex = _CURRENT.get("executor")
        if ex is None or not _CURRENT.get("checkpointable"):
            return None
        _CURRENT["requeued"] = True
        return submitit.helpers.DelayedSubmission(self, replace(ref, restore=ex.checkpoint()))


def read_plan(plan_file: str | Path) -> dict[str, Any]:
    from dii_hpc.store.atomic import read_json

    plan: dict[str, Any] = read_json(Path(plan_file))
    return plan


def task_config(plan: dict[str, Any], index: int, values: dict[str, Any] | None = None,
                label: str | None = None) -> tuple[dict[str, Any], Any]:
    """The task's resolved raw config and its validated ExperimentConfig; ``values``: the
    point of a study's trial (``label`` names it) instead of the row's own."""
    from dii_hpc.config import SweepPoint, apply_point, from_dict

    spec = plan["tasks"][index]
    point = SweepPoint(spec.get("values", {}) if values is None else values, spec.get("seed"))
    raw = apply_point(plan["config"], point)
    where = f"{plan.get('source', 'plan')} {label or f'task {index}'}"
    return raw, from_dict(raw, source=where).config


def build_executor(plan: dict[str, Any], config: Any, restore: dict[str, Any] | None = None) -> Any:
    """The configured Executor of one task's (or trial's) own config: its models and datasets
    are built from that config, swept constructor params included."""
    from dii_hpc.config import refs

    search = [plan["config_dir"]] if plan.get("config_dir") else []  # beside the config
    ex = refs.resolve(config.executor, "executor", require=("run_unit",), what="executor",
                      search=search)(config, restore_states=restore)
    ex.search = search
    return ex


def train(plan: dict[str, Any], index: int, ex: Any, unit: Any, run: Any, config: Any,
          dist: Any) -> Any:
    """A task's work inside its run, the same for a sweep task and a study's trial: system
    metrics, the unit's train_function with the config's params, then (rank 0) what it
    returned saved on the run and the other ranks' ends."""
    sampler, node_writer = _sampler(run, plan, index, config, dist)
    try:
        result = ex.run_unit(unit, run, dict(config.params))
        if dist.rank == 0:
            with run.deferring():  # published with the run's end, which comes next
                ex.save_result(run, result)
            if dist.world_size > 1:
                _stop(sampler, node_writer)
                _end_ranks(run, dist)
        return result
    finally:
        _stop(sampler, node_writer)


def seed_everything(seed: int | None) -> None:
    """Seed Python and numpy; torch too when the process already imported it."""
    if seed is None:
        return
    random.seed(seed)
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _log_paths() -> dict[str, str]:
    """Where submitit sends this task's stdout/stderr (for `dii-hpc logs`)."""
    # RuntimeError: not inside a submitit job (a direct call); KeyError/ValueError:
    # a submitit variable missing or malformed. Either way there is no log path to show.
    with contextlib.suppress(RuntimeError, KeyError, ValueError):
        import submitit

        env = submitit.JobEnvironment()
        return {"stdout": str(env.paths.stdout), "stderr": str(env.paths.stderr)}
    return {}


def _link_logs(run_dir: Path, paths: dict[str, str], rank: int, world_size: int) -> None:
    """logs/stdout.log, stderr.log (rank 0) and logs/rank<k>.out/.err (every rank of a
    multi-rank task) link submitit's per-task files; each rank links only its own."""
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    names = {"stdout": "stdout.log", "stderr": "stderr.log"} if rank == 0 else {}
    multi = {"stdout": f"rank{rank}.out", "stderr": f"rank{rank}.err"} if world_size > 1 else {}
    for stream, target in paths.items():
        for name in (names.get(stream), multi.get(stream)):
            if not name:
                continue
            link = logs / name
            with contextlib.suppress(OSError):
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(target)


def _start(plan: dict[str, Any], index: int, raw: dict[str, Any], config: Any, dist: Any,
           run_id: str | None = None, sections: dict[str, Any] | None = None,
           store: Any = None, new: dict[str, Any] | None = None) -> Any:
    """Rank 0: resume the task's run (or ``run_id``: a study worker's trial) and record
    where and how wide it runs: manifest and sections (``sections``: the caller's, merged
    into the Slurm one for "slurm") in the write that opens it (each write is a round trip
    on a shared filesystem); ``store``: the plan's, when the caller has it open; ``new``:
    params and tags of a run that does not exist yet (made RUNNING by that one write)."""
    from dii_hpc.launch.manifest import runtime_manifest
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import start_run

    spec = plan["tasks"][index]
    store = store or Store(plan["store"])  # a study worker's own, already checked
    manifest = runtime_manifest()
    paths = _log_paths()
    extra = dict(sections or {})
    slurm_extra = extra.pop("slurm", {})
    out: dict[str, Any] = {"launch": {
        "executor": plan.get("executor"), "host": manifest["host"], "pid": os.getpid(),
        "world_size": dist.world_size, "nodes": list(dist.nodes) or [manifest["host"]],
        "all_ranks": config.tracking.all_ranks, **paths}}
    ids = dict(manifest["slurm"])
    if ids.get("array_job_id") and ids.get("array_task_id"):
        ids["raw_job_id"] = ids.get("job_id")
        ids["job_id"] = f"{ids['array_job_id']}_{ids['array_task_id']}"
    if ids:  # merged into a resumed run's own by start_run
        out["slurm"] = {**ids, **slurm_extra}
    out["manifest"] = {
        **manifest, "config": raw, "seed": spec.get("seed"),
        "git": {k: v for k, v in plan.get("git", {}).items() if k != "diff"},
        "submission": plan["submission_id"], "task_index": index,
        "source": plan.get("source"), "config_dir": plan.get("config_dir")}
    run = start_run(config.experiment, run_id=run_id or spec["run_id"], kind=config.kind,
                    store=store, rank=0, all_ranks=config.tracking.all_ranks,
                    fields={**out, **extra}, **(new or {}))
    diff = plan.get("git_diff_file")
    if diff:
        _log_diff(run, diff)
    if paths:
        _link_logs(store.run_path(config.experiment, run.id), paths, 0, dist.world_size)
    return run


_DIFFS: dict[str, tuple[str, int]] = {}  # a submission's git.diff file -> its blob, per process


def _log_diff(run: Any, diff: str) -> None:
    """The submission's uncommitted changes as the run's ``git.diff`` artifact.  The file is
    the submission's, written once at submit: a process that runs many tasks of it (a study
    worker's trials) hashes and stores it once, and each run names that blob."""
    from dii_hpc.store.blobs import blob_path, put_file

    blob = _DIFFS.get(diff)
    if blob is None or not blob_path(run.store.root, blob[0]).exists():
        if not Path(diff).is_file():
            return
        blob = _DIFFS[diff] = put_file(run.store.root, diff)
    run._add_artifact("git.diff", *blob)


def _join(plan: dict[str, Any], index: int, config: Any, dist: Any) -> Any:
    """Rank k > 0: the same run, silent or (tracking.all_ranks) writing rank<k>/ keys."""
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import start_run

    run = start_run(config.experiment, run_id=plan["tasks"][index]["run_id"], kind=config.kind,
                    store=Store(plan["store"]), rank=dist.rank, all_ranks=config.tracking.all_ranks)
    if run.dir is not None:
        _link_logs(run.dir, _log_paths(), dist.rank, dist.world_size)
    return run


def _sampler(run: Any, plan: dict[str, Any], index: int, config: Any, dist: Any) -> tuple[Any, Any]:
    """System metrics: into the run (one process), or per node under sys/<node>/ from each
    node's local rank 0, through a writer of its own arrays (it writes no record)."""
    from dii_hpc import distributed
    from dii_hpc.launch.sysmetrics import SystemSampler

    interval = config.resources.sys_metrics_s
    if dist.world_size == 1:
        return SystemSampler(lambda m, _step: run.log_metrics(m), interval).start(), None
    if dist.local_rank != 0 or interval <= 0:
        return SystemSampler(lambda m, _s: None, 0).start(), None
    from dii_hpc.store import records
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import Run

    store = Store(plan["store"])
    rid = plan["tasks"][index]["run_id"]
    writer = Run(store, records.read_record(store.run_dir(rid)), resumed=True,
                 owns_status=False, writes_record=False)
    # Every rank on this node: the tasks srun started are siblings under one slurmstepd.
    pid = os.getppid() if os.environ.get("SLURM_STEP_ID") else None
    sampler = SystemSampler(lambda m, _s: writer.log_metrics(m), interval, pid=pid,
                            prefix=f"sys/{distributed.node_name()}/").start()
    return sampler, writer


def _end_ranks(run: Any, dist: Any, timeout_s: float = 300.0) -> None:
    """Rank 0, its part done: wait for the other ranks' states, fold their arrays into the
    summary, and end FAILED (naming the rank) when one of them failed."""
    from dii_hpc.errors import InfraError
    from dii_hpc.tracking import ranks

    states = ranks.wait_for(run.dir, range(1, dist.world_size), timeout_s)
    run.refresh_summary()
    failed = sorted(r for r, s in states.items() if s.get("state") == "failed")
    if failed:
        why = ranks.failure(run.dir) or f"rank {failed[0]} failed"
        run.finish("FAILED", why)
        raise InfraError(why)


def _guard_preempt() -> None:
    """From the task's first instant, the preempt signal goes through `_on_preempt`
    (submitit's handler stays behind it)."""
    sig = preempt_signal()
    with contextlib.suppress(ValueError):  # not the main thread: leave handlers alone
        previous = signal.getsignal(sig)
        if previous is not _on_preempt:
            _CURRENT["submitit_handler"] = previous
            signal.signal(sig, _on_preempt)


def _on_preempt(signum: int, frame: Any) -> None:
    """Checkpointable task: submitit checkpoints and requeues.  Otherwise only flush metrics
    and keep going: Slurm ends the job at its limit and the run shows TIMEOUT."""
    run = _CURRENT.get("run")
    if run is not None:
        with contextlib.suppress(Exception):  # a signal handler: see tracking.signals._flush_all
            run.flush()
    handler = _CURRENT.get("submitit_handler")
    if _CURRENT.get("checkpointable") and callable(handler):
        handler(signum, frame)


def limit_threads(cpus: int | None) -> None:
    """Use the cores the task asked for, not every core of the node.

    BLAS/OpenMP/torch default to one thread per core; with several array tasks (or local
    processes) per node that oversubscribes the CPUs, and a small torch model then trains
    ten times slower than with one thread. Slurm's cgroup would cap the cores, not the
    thread count.
    """
    n = int(os.environ.get("SLURM_CPUS_PER_TASK") or cpus or 0)
    if n < 1:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    if "torch" in sys.modules:  # imported already: OMP_NUM_THREADS comes too late for it
        sys.modules["torch"].set_num_threads(n)


def _last_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}".rstrip(": ")[:500]


def execute(ref: TaskRef) -> dict[str, Any]:
    """Run row ``ref.index`` of the plan on this rank; returns the run's last metric values.

    Every rank of a multi-rank task gets here (submitit starts nodes x tasks_per_node
    processes) and calls the unit's ``train_function``; rank 0 owns the run."""
    from dii_hpc import distributed
    from dii_hpc.launch.executor import Unit
    from dii_hpc.tracking import ranks

    plan = read_plan(ref.plan_file)
    spec = plan["tasks"][ref.index]
    raw, config = task_config(plan, ref.index)
    limit_threads(config.resources.cpus_per_task)
    dist = distributed.env()
    ex = build_executor(plan, config, ref.restore)
    unit = Unit.from_dict(spec["unit"])
    _CURRENT.update(executor=ex, checkpointable=ex.checkpointable(unit), requeued=False, run=None)
    seed_everything(spec.get("seed"))
    run = _start(plan, ref.index, raw, config, dist) if dist.rank == 0 else _join(plan, ref.index, config, dist)
    _CURRENT["run"] = run
    with contextlib.suppress(ValueError):
        signal.signal(preempt_signal(), _on_preempt)  # start_run chained its own flush in front
    try:
        with run:
            try:
                train(plan, ref.index, ex, unit, run, config, dist)
            except SystemExit:
                if _CURRENT.get("requeued"):
                    run.finish("PENDING", "requeued after its warning signal; will resume")
                raise
            except BaseException as err:
                if dist.rank != 0:
                    ranks.write_state(run.dir, dist.rank, "failed", _last_line(err),
                                      distributed.node_name())
                raise
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(preempt_signal(), _CURRENT.get("submitit_handler") or signal.SIG_DFL)
        _CURRENT.clear()
    if dist.rank != 0 and run.dir is not None:
        ranks.write_state(run.dir, dist.rank, "done", None, distributed.node_name())
    return {k: v.get("last") for k, v in run.record.get("metrics", {}).items()}


def _stop(sampler: Any, writer: Any) -> None:
    sampler.stop()
    if writer is not None and not writer.finished:
        writer.finish()
