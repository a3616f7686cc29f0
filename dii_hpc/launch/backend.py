"""The one submission backend: every job dii-hpc sends is built here from `Resources`.

Sweep arrays (`submit`, `resubmit`), `dii-hpc run`, prediction shards and audit shards all
describe what they need as a `Job` (executor kind, folder, resources, setup lines, store,
name) and get their submitit executor, its parameters and the exact sbatch text from here,
so a setting (the store variable, setup lines, requeue count, GPUs, nodes...) can never be
honoured by one job kind and dropped by another.

Why submitit is the only sbatch generator (the Jinja templates sbatch/array.sbatch.j2 and
run.sbatch.j2 and their entry point launch/worker.py were deleted): requeue after a
checkpoint (USR2 -> pickled state -> `scontrol requeue`) and per-rank result files only exist
through submitit's own batch script, and a second generator rendering the "same" parameters
had already drifted from it (no srun, so no multi-task jobs; its own log paths).  What sites
with their own conventions need is covered by the one script: `setup:` lines run before the
job (modules, environments, wrappers), `resources.extra` adds any `#SBATCH --key=value`, and
`dii-hpc submit --dry-run` prints the script that would be submitted, byte for byte.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.config.schema import Resources
from dii_hpc.errors import BadInput, SchedulerError
from dii_hpc.slurm import timespec

if TYPE_CHECKING:  # pragma: no cover
    import submitit
    from submitit.core.core import PicklingExecutor

KINDS = ("auto", "local", "slurm", "debug")


@dataclass(frozen=True)
class Job:
    """Everything a submission needs; built by `job()`, which checks it against the target."""

    kind: str  # slurm | local | debug
    folder: Path  # submitit's folder (pickles, per-task logs)
    resources: Resources
    store_root: Path
    name: str
    setup: tuple[str, ...] = ()
    use_srun: bool = True  # False: the job body starts its ranks itself (`dii-hpc run`)
    conf: dict[str, str] | None = field(default=None, compare=False)  # scontrol show config
    # Slurm --dependency (e.g. "afterok:12:13", "aftercorr:14"); a job whose dependency can
    # never be satisfied is cancelled by Slurm (--kill-on-invalid-dep). Ignored off Slurm:
    # the local executor runs dependent work in order itself (pipelines).
    dependency: str | None = None


def choose(kind: str) -> tuple[str, dict[str, str] | None]:
    """auto = Slurm when `scontrol show config` answers (one call, also gives MaxArraySize)."""
    from dii_hpc.slurm import commands

    if kind not in KINDS:
        raise BadInput(f"--executor {kind}: expected one of {', '.join(KINDS)}")
    if kind in ("auto", "slurm"):
        if shutil.which("sbatch") is None:
            if kind == "slurm":
                raise SchedulerError("--executor slurm: sbatch not found on this host")
            return "local", None
        try:
            return "slurm", commands.show_config()
        except SchedulerError:
            if kind == "slurm":
                raise
            return "local", None
    return kind, None


def job_name(what: str, experiment: str) -> str:
    """Slurm job names: dii-<experiment> for sweeps, dii-<what>-<experiment> for the rest."""
    return f"dii-{experiment}" if what == "sweep" else f"dii-{what}-{experiment}"


def job(kind: str, folder: Path, resources: Resources, store_root: Path, name: str,
        setup: list[str] | tuple[str, ...] = (), *, conf: dict[str, str] | None = None,
        use_srun: bool = True, check: bool = True, dependency: str | None = None) -> Job:
    """A Job for executor ``kind``; a request the target cannot hold is BadInput here."""
    out = Job(kind, Path(folder), resources, Path(store_root), name, tuple(setup), use_srun, conf,
              dependency or None)
    if check:
        check_fits(out)
    return out


def needs_cluster_check(res: Resources) -> bool:
    """Only requests beyond one plain node are checked against the partition (one sinfo)."""
    return res.nodes > 1 or res.gpus_per_node > 0 or res.gres is not None


def check_fits(job: Job) -> None:
    """Refuse what the target cannot run: several nodes locally, more nodes/GPUs than the
    partition has, an unknown gres name or type (one `sinfo` call, only when asked for)."""
    res = job.resources
    if job.kind != "slurm":
        if res.nodes > 1:
            raise BadInput(f"nodes: {res.nodes} asked, but the {job.kind} executor runs on this "
                           "host only (1 node); use --executor slurm")
        return
    if not needs_cluster_check(res):
        return
    from dii_hpc.slurm import commands, partition

    conf = job.conf if job.conf is not None else commands.show_config()
    parts = partition.parse_sinfo(commands.run(["sinfo", "-h", "-N", "-o", partition.SINFO_FORMAT]))
    gpu_key = "gpus_per_task" if res.gpus_per_task else ("gres" if res.gres and not res.gpus else "gpus")
    partition.check(parts, partition.gres_types(conf), partition=res.partition, nodes=res.nodes,
                    gpus_per_node=res.gpus_per_node, gres=res.gres, gpu_key=gpu_key)


def slurm_parameters(job: Job) -> dict[str, Any]:
    """submitit SlurmExecutor parameters (what becomes the #SBATCH lines and the srun line)."""
    res = job.resources
    minutes = timespec.minutes(res.time)
    params: dict[str, Any] = {
        "job_name": job.name, "time": minutes, "nodes": res.nodes,
        "ntasks_per_node": res.tasks_per_node, "cpus_per_task": res.cpus_per_task,
        # A warning due before the job even starts would kill it at once: keep it within
        # the second half of the time limit.
        "signal_delay_s": max(1, min(res.signal_delay_s, minutes * 30)),
        "setup": [*job.setup, f"export DII_HPC_STORE={shlex.quote(str(job.store_root))}"],
    }
    optional = {"partition": res.partition, "account": res.account, "qos": res.qos,
                "mem": res.mem, "gpus_per_node": res.gpus or None,
                "gpus_per_task": res.gpus_per_task or None,
                "gres": str(res.gres) if res.gres is not None else None,
                "constraint": res.constraint, "exclusive": True if res.exclusive else None,
                "array_parallelism": res.array_parallelism}
    params.update({k: v for k, v in optional.items() if v is not None})
    if res.world_size > 1 and job.use_srun:
        # One rank that dies ends the step: the others would wait in a collective forever.
        params["srun_args"] = ["--kill-on-bad-exit=1"]
    if not job.use_srun:
        params["use_srun"] = False
    extra = dict(res.extra or {})
    if job.dependency:
        params["dependency"] = job.dependency
        extra.setdefault("kill-on-invalid-dep", "yes")  # a failed need cancels, never strands
    if extra:
        params["additional_parameters"] = extra
    return params


def local_parameters(job: Job) -> dict[str, Any]:
    """submitit LocalExecutor parameters: the same limits, ranks and GPUs on this host."""
    res = job.resources
    params: dict[str, Any] = {"timeout_min": timespec.minutes(res.time),
                              "signal_delay_s": res.signal_delay_s}
    if res.tasks_per_node > 1 and job.use_srun:
        params["tasks_per_node"] = res.tasks_per_node
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    return params


def parameters(job: Job) -> dict[str, Any]:
    return slurm_parameters(job) if job.kind == "slurm" else local_parameters(job)


def executor(job: Job) -> submitit.Executor:
    """The submitit executor of a Job: SlurmExecutor, LocalExecutor or DebugExecutor."""
    import submitit

    from dii_hpc.store.settings import private_dir

    private_dir(job.folder)  # submitit pickles the payload here: owner-only
    ex: PicklingExecutor
    if job.kind == "slurm":
        ex = submitit.SlurmExecutor(job.folder, max_num_timeout=job.resources.max_requeues)
    elif job.kind == "local":
        ex = submitit.LocalExecutor(job.folder, max_num_timeout=job.resources.max_requeues)
    else:
        return submitit.DebugExecutor(job.folder)
    ex.update_parameters(**parameters(job))
    return ex


def sbatch_text(job: Job, n_tasks: int = 1, python: str | None = None) -> str:
    """The sbatch file submitit writes for this Job (an array when ``n_tasks`` > 1).

    ``_make_sbatch_string`` is private to submitit; tests/launch/test_backend.py fails loudly
    when a release renames it or stops taking the parameters passed here."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([shlex.quote(python or sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(str(job.folder))])
    kwargs = slurm_parameters(job)
    if n_tasks > 1:
        kwargs["map_count"] = n_tasks
    return _make_sbatch_string(command=command, folder=job.folder, **kwargs)


def slurm_message(err: BaseException) -> str:
    """Slurm's own words from a failed sbatch, on one line ('a; b' for several errors)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    errors = [ln.split("error:", 1)[1].strip() for ln in lines if ln.startswith("sbatch: error:")]
    return "; ".join(dict.fromkeys(errors)) or (lines[-1] if lines else repr(err))


def submit_array(ex: Any, fn: Any, *iterables: Any, what: str = "job array") -> list[Any]:
    """map_array with submitit's echo of sbatch's stderr kept off the terminal; a refusal
    is one SchedulerError in Slurm's words (the same text reaches the user once)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            jobs: list[Any] = ex.map_array(fn, *iterables)
            return jobs
    except Exception as err:  # noqa: BLE001 - submitit wraps sbatch failures
        raise SchedulerError(f"sbatch rejected the {what}: {slurm_message(err)}") from err


def submit_one(ex: Any, fn: Any, *args: Any, what: str = "job") -> Any:
    """One job (not an array); errors as in `submit_array`."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return ex.submit(fn, *args)
    except Exception as err:  # noqa: BLE001
        raise SchedulerError(f"sbatch rejected the {what}: {slurm_message(err)}") from err


class RankZero:
    """Run ``fn`` on global rank 0 only: a shard is one process's work, whatever the
    resources (a multi-task shard job gets its nodes and GPUs; its other ranks idle)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from dii_hpc import distributed

        if distributed.rank() != 0:
            return None
        return self.fn(*args, **kwargs)
