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

    return read_json(Path(plan_file))


def task_config(plan: dict[str, Any], index: int) -> tuple[dict[str, Any], Any]:
    """The task's resolved raw config and its validated ExperimentConfig."""
    from dii_hpc.config import SweepPoint, apply_point, from_dict

    spec = plan["tasks"][index]
    raw = apply_point(plan["config"], SweepPoint(spec.get("values", {}), spec.get("seed")))
    return raw, from_dict(raw, source=f"{plan.get('source', 'plan')} task {index}").config


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
    # RuntimeError: not a submitit job (sbatch/array.sbatch.j2's worker); KeyError/ValueError:
    # a submitit variable missing or malformed. Either way there is no log path to show.
    with contextlib.suppress(RuntimeError, KeyError, ValueError):
        import submitit

        env = submitit.JobEnvironment()
        return {"stdout": str(env.paths.stdout), "stderr": str(env.paths.stderr)}
    return {}


def _link_logs(run_dir: Path, paths: dict[str, str]) -> None:
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name, target in paths.items():
        link = logs / f"{name}.log"
        with contextlib.suppress(OSError):
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)


def _start(plan: dict[str, Any], index: int, raw: dict[str, Any], config: Any) -> Any:
    from dii_hpc.launch.manifest import runtime_manifest
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import start_run

    spec = plan["tasks"][index]
    run = start_run(config.experiment, run_id=spec["run_id"], kind=config.kind,
                    store=Store(plan["store"]))
    manifest = runtime_manifest()
    run.set_manifest({**manifest, "config": raw, "seed": spec.get("seed"),
                      "git": {k: v for k, v in plan.get("git", {}).items() if k != "diff"},
                      "submission": plan["submission_id"], "task_index": index,
                      "source": plan.get("source"), "config_dir": plan.get("config_dir")})
    diff = plan.get("git_diff_file")
    if diff and Path(diff).is_file():
        run.log_artifact(diff, name="git.diff")
    paths = _log_paths()
    _link_logs(run.dir, paths)
    run.set_section("launch", {"executor": plan.get("executor"), "host": manifest["host"],
                               "pid": os.getpid(), **paths})
    ids = dict(manifest["slurm"])
    if ids.get("array_job_id") and ids.get("array_task_id"):
        ids["raw_job_id"] = ids.get("job_id")
        ids["job_id"] = f"{ids['array_job_id']}_{ids['array_task_id']}"
    if ids:
        run.set_section("slurm", {**(run.record.get("slurm") or {}), **ids})
    return run


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


def execute(ref: TaskRef) -> dict[str, Any]:
    """Run row ``ref.index`` of the plan; returns the run's last metric values."""
    from dii_hpc.config import refs
    from dii_hpc.launch.executor import Unit
    from dii_hpc.launch.sysmetrics import SystemSampler

    plan = read_plan(ref.plan_file)
    spec = plan["tasks"][ref.index]
    raw, config = task_config(plan, ref.index)
    limit_threads(config.resources.cpus_per_task)
    search = [plan["config_dir"]] if plan.get("config_dir") else []  # beside the config
    ex = refs.resolve(config.executor, "executor", require=("run_unit",), what="executor",
                      search=search)(config, restore_states=ref.restore)
    ex.search = search
    unit = Unit.from_dict(spec["unit"])
    _CURRENT.update(executor=ex, checkpointable=ex.checkpointable(unit), requeued=False, run=None)
    seed_everything(spec.get("seed"))
    run = _start(plan, ref.index, raw, config)
    _CURRENT["run"] = run
    with contextlib.suppress(ValueError):
        signal.signal(preempt_signal(), _on_preempt)  # start_run chained its own flush in front
    sampler = SystemSampler(lambda m, _step: run.log_metrics(m),
                            config.resources.sys_metrics_s).start()
    try:
        with run:
            try:
                result = ex.run_unit(unit, run, dict(config.params))
                ex.save_result(run, result)
            except SystemExit:
                if _CURRENT.get("requeued"):
                    run.finish("PENDING", "requeued after its warning signal; will resume")
                raise
    finally:
        sampler.stop()
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(preempt_signal(), _CURRENT.get("submitit_handler") or signal.SIG_DFL)
        _CURRENT.clear()
    return {k: v.get("last") for k, v in run.record.get("metrics", {}).items()}
