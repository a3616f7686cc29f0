"""`dii-hpc run -- CMD ...`: any command as a tracked run, here or as a Slurm job.

The command runs as a child process with DII_HPC_STORE + DII_HPC_RUN_ID set, so
``dii_hpc.log_metric`` inside it attaches to the run; its stdout/stderr go to the run's logs/;
its exit code decides FINISHED/FAILED.  While it runs, its process tree is sampled (CPU, RSS,
GPU) in memory; the samples are written as sys/* metrics after the child exits, so the run
keeps a single writer at any time.

With several ranks (resources.nodes x tasks_per_node) the command runs on each of them
through `launch.rank` (srun inside the Slurm job; local processes otherwise): still one run,
logs/rank<k>.out/.err per rank, sys/<node>/ metrics per node, and a rank that fails ends the
run FAILED with that rank's last error line.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.config.schema import Resources

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.launch.backend import Job
    from dii_hpc.store.store import Store


@dataclass
class CommandTask:
    """Picklable: what a Slurm job (or this process) needs to run the command of a run."""

    store: str
    run_id: str
    command: list[str]
    cwd: str
    sys_metrics_s: float = 10.0
    env: dict[str, str] = field(default_factory=dict)
    executor: str = "local"  # slurm: ranks start through srun inside the job's allocation
    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 1
    gpus_per_task: int = 0
    all_ranks: bool = False

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks_per_node

    def __call__(self) -> int:
        return run_command(self)


def _manifest(task: CommandTask) -> tuple[dict[str, Any], str]:
    """The run's manifest and the git diff of its folder (an artifact of its own)."""
    from dii_hpc.launch.manifest import git_info, runtime_manifest

    git = git_info(task.cwd)
    return {**runtime_manifest(), "command": task.command, "cwd": task.cwd,
            "git": {k: v for k, v in git.items() if k != "diff"}}, git.get("diff") or ""


def srun_command(task: CommandTask, logs: Path) -> list[str]:
    """srun of the command on every rank (each through the rank wrapper, logs per rank)."""
    gpus = [f"--gpus-per-task={task.gpus_per_task}"] if task.gpus_per_task else []
    return ["srun", "--kill-on-bad-exit=1", f"--nodes={task.nodes}", f"--ntasks={task.world_size}",
            f"--ntasks-per-node={task.tasks_per_node}", f"--cpus-per-task={task.cpus_per_task}",
            *gpus, "--output", str(logs / "rank%t.out"), "--error", str(logs / "rank%t.err"),
            sys.executable, "-m", "dii_hpc.launch.rank", "--", *task.command]


def run_command(task: CommandTask) -> int:
    """Run the child, record logs, sys metrics and the end state; return its exit code."""
    import socket

    from dii_hpc import distributed
    from dii_hpc.launch.sysmetrics import SystemSampler
    from dii_hpc.store.store import Store
    from dii_hpc.tracking import ranks

    store = Store(task.store)
    rdir = store.run_dir(task.run_id)
    logs = rdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    manifest, diff = _manifest(task)
    slurm = {k: v for k, v in manifest["slurm"].items()}
    if slurm.get("array_job_id") and slurm.get("array_task_id"):
        slurm["job_id"] = f"{slurm['array_job_id']}_{slurm['array_task_id']}"
    multi, on_slurm = task.world_size > 1, task.executor == "slurm"
    nodes = list(distributed.env().nodes) if on_slurm else []
    store.update_run(task.run_id, status="RUNNING", start_time=time.time(), manifest=manifest,
                     launch={"executor": "slurm" if slurm else "local",
                             "host": socket.gethostname(), "pid": os.getpid(),
                             "stdout": str(logs / "stdout.log"),
                             "stderr": str(logs / "stderr.log"),
                             "world_size": task.world_size, "all_ranks": task.all_ranks,
                             "nodes": nodes or [distributed.node_name()]},
                     **({"slurm": slurm} if slurm else {}))
    env = command_env({**os.environ, **task.env, "DII_HPC_STORE": str(store.root),
                       "DII_HPC_RUN_ID": task.run_id})
    if multi:
        env.update(DII_HPC_SYS_METRICS_S=str(task.sys_metrics_s),
                   DII_HPC_ATTEMPT=ranks.attempt() if on_slurm else f"local-{os.getpid()}")
    samples: list[dict[str, float]] = []
    with open(logs / "stdout.log", "ab") as out, open(logs / "stderr.log", "ab") as err:
        if multi and not on_slurm:
            code = _local_ranks(task, env, logs, err)
        else:
            cmd = srun_command(task, logs) if multi else task.command
            try:
                child = subprocess.Popen(cmd, cwd=task.cwd, env=env, stdout=out, stderr=err,
                                         preexec_fn=die_with_parent())
            except OSError as exc:
                err.write(f"dii-hpc run: cannot start {cmd[0]!r}: {exc}\n".encode())
                return _finish(store, task.run_id, 127, samples, diff, f"cannot start: {exc}")
            sampler = SystemSampler(lambda m, _s: samples.append(m),
                                    0 if multi else task.sys_metrics_s, pid=child.pid).start()
            previous = _forward_signals([child])
            try:
                code = child.wait()
            finally:
                sampler.stop()
                _restore_signals(previous)
    # A rank that failed ends the others (srun's kill): the run failed, for that rank's reason.
    error = ranks.failure(rdir) if multi and code else None
    return _finish(store, task.run_id, code, samples, diff, error, "FAILED" if error else None)


def _local_ranks(task: CommandTask, env: dict[str, str], logs: Path, err: Any) -> int:
    """No Slurm: the ranks of one node as local processes, with torchrun's variables; the
    first rank that fails ends the others (as srun --kill-on-bad-exit does)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    n = task.world_size
    children: list[subprocess.Popen[bytes]] = []
    for r in range(n):
        renv = {**env, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(n),
                "LOCAL_WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        with open(logs / f"rank{r}.out", "ab") as o, open(logs / f"rank{r}.err", "ab") as e:
            children.append(subprocess.Popen(
                [sys.executable, "-m", "dii_hpc.launch.rank", "--", *task.command],
                cwd=task.cwd, env=renv, stdout=o, stderr=e, preexec_fn=die_with_parent()))
    previous = _forward_signals(children)
    try:
        code = 0
        while any(c.poll() is None for c in children):
            bad = [c.returncode for c in children if c.returncode not in (None, 0)]
            if bad and not code:
                code = bad[0]
                err.write(f"dii-hpc run: a rank exited with code {code}; ending the others\n".encode())
                for c in children:
                    if c.poll() is None:
                        c.terminate()
            time.sleep(0.05)
        return code or next((c.returncode for c in children if c.returncode), 0)
    finally:
        _restore_signals(previous)


def command_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a user's command runs in (`dii-hpc run`, every rank, pipeline command
    stages): the folder of the Python running dii-hpc first on PATH, so that `python`,
    `dii-hpc` and `pip` in the command (or in a script it starts) are that environment's,
    whatever PATH the job's shell or a setup line built: `import dii_hpc` works and logs to
    the run. Another interpreter is named by its path."""
    bindir = os.path.dirname(sys.executable)
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != bindir]
    return {**env, "PATH": os.pathsep.join([bindir, *rest])}


def die_with_parent() -> Any:
    """A ``preexec_fn`` that makes the child get SIGTERM when this launcher dies, even by
    ``kill -9`` (Linux's PR_SET_PDEATHSIG): a command never outlives `dii-hpc run`, and its
    run's SIGTERM handler still stores every point.  None where prctl does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now, not in the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the launcher died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _forward_signals(children: list[subprocess.Popen[bytes]]) -> dict[int, Any]:
    """SIGTERM/SIGINT to us go to the children too; submitit's preempt warning is absorbed here
    (its default action would kill an unprepared command; Slurm still ends it at the limit)."""
    from dii_hpc.slurm.preempt import preempt_signal

    previous: dict[int, Any] = {}

    def forward(sig: int, _frame: Any) -> None:
        for child in children:
            with contextlib.suppress(OSError):  # a child that already exited
                child.send_signal(sig)

    handlers = {preempt_signal(): lambda s, _f: None,  # overridden below when it is TERM
                signal.SIGTERM: forward, signal.SIGINT: forward}
    for sig, handler in handlers.items():
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            break
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _finish(store: Store, run_id: str, code: int, samples: list[dict[str, float]], diff: str,
            error: str | None = None, status: str | None = None) -> int:
    from dii_hpc.tracking.run import start_run

    rec = store.run(run_id)
    run = start_run(rec["experiment"], run_id=run_id, store=store, kind=rec.get("kind", "train"))
    for step, sample in enumerate(samples):
        run.log_metrics(sample, step=step)
    if diff:
        run.log_dict("git.diff.json", {"diff": diff})
    run.log_params({"exit_code": code})
    if status is not None:
        run.finish(status, error)
    elif code == 0:
        run.finish("FINISHED")
    elif code < 0 or code in (128 + signal.SIGTERM, 128 + signal.SIGINT):
        run.finish("KILLED", error or f"command ended by signal {abs(code) if code < 0 else code - 128}")
    else:
        run.finish("FAILED", error or f"command exited with code {code}")
    return code


def create(store: Store, experiment: str, command: list[str], tags: dict[str, str] | None = None) -> str:
    """The PENDING record of a command run (written before anything starts)."""
    return store.create_run(experiment, kind="train", params={"command": shlex.join(command)},
                            tags=tags or {}, status="PENDING")


def submit_command(store: Store, experiment: str, command: list[str], resources: Resources,
                   setup: list[str], executor: str,
                   all_ranks: bool = False) -> tuple[str, str, str, Any]:
    """Create the run and start it: inline (local/debug) or as one Slurm job (launch.backend).

    A multi-rank command is one job whose body (this launcher, outside srun) starts every
    rank with srun inside the allocation.  Returns (run_id, executor kind, job id or '', the
    CommandTask to run inline, or the submitit job)."""
    from dii_hpc.launch import backend

    kind, conf = backend.choose(executor)
    spec = {"argv": list(command), "cwd": os.getcwd(), "setup": list(setup),
            "resources": resources.model_dump(mode="json"), "all_ranks": all_ranks}
    job = command_job(store, experiment, spec, kind, conf)  # a request that cannot fit: no run
    store.ensure_writable()
    run_id = create(store, experiment, command, {"launcher": "dii-hpc run"})
    try:
        return (run_id, *launch(store, experiment, run_id, spec, job))
    except BaseException:  # nothing half-submitted
        store.delete_run(run_id)
        raise


def command_job(store: Store, experiment: str, spec: dict[str, Any], kind: str,
                conf: dict[str, str] | None = None) -> Job:
    """The backend Job of a command ``spec`` (checked against the target): a multi-rank
    command's job body starts its ranks itself, so submitit adds no srun."""
    from dii_hpc.launch import backend

    resources = Resources(**spec["resources"])
    return backend.job(kind, store.jobs_dir / f"run-{experiment}", resources, store.root,
                       backend.job_name("run", experiment), spec["setup"], conf=conf,
                       use_srun=resources.world_size == 1)


def launch(store: Store, experiment: str, run_id: str, spec: dict[str, Any],
           job: Job) -> tuple[str, str, Any]:
    """Start (or restart: `resubmit`) the command ``spec`` of a run as ``job`` (a backend Job,
    `command_job`); the jobs record keeps the spec, so that `resubmit --failed` can launch it
    again with the same resources.

    Returns (executor kind, job id or '', the CommandTask to run here or the submitit job)."""
    from dii_hpc.launch import backend
    from dii_hpc.records import jobs

    res = job.resources
    task = CommandTask(str(store.root), run_id, list(spec["argv"]), spec["cwd"], res.sys_metrics_s,
                       executor=job.kind, nodes=res.nodes, tasks_per_node=res.tasks_per_node,
                       cpus_per_task=res.cpus_per_task, gpus_per_task=res.gpus_per_task,
                       all_ranks=bool(spec.get("all_ranks")))
    name = f"run-{run_id}"
    record = jobs.JobRecord(submission_id=name, experiment=experiment, executor=job.kind,
                            runs={run_id: ""}, submitted=time.time(), command=spec)
    if job.kind != "slurm":
        jobs.write(store, name, record)
        return job.kind, "", task
    job = replace(job, folder=jobs.folder(store, name))
    fresh = not job.folder.exists()
    try:
        submitted = backend.submit_one(backend.executor(job), task)
    except BaseException:
        if fresh:  # a resubmission keeps the earlier attempt's folder
            shutil.rmtree(job.folder, ignore_errors=True)
        raise
    jobs.write(store, name, record.model_copy(update={"runs": {run_id: str(submitted.job_id)},
                                                      "submitted": time.time()}))
    return job.kind, str(submitted.job_id), submitted


def command_spec(store: Store, run_id: str) -> dict[str, Any] | None:
    """The command spec `launch` recorded for a `dii-hpc run` run (None for other runs)."""
    from dii_hpc.records import jobs

    record = jobs.read(store, f"run-{run_id}")
    return record.command if record is not None else None


def logs_dir(store: Store, run_id: str) -> Path:
    return store.run_dir(run_id) / "logs"
