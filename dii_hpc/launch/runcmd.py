"""`dii-hpc run -- CMD ...`: any command as a tracked run, here or as a Slurm job.

The command runs as a child process with DII_HPC_STORE + DII_HPC_RUN_ID set, so
``dii_hpc.log_metric`` inside it attaches to the run; its stdout/stderr go to the run's logs/;
its exit code decides FINISHED/FAILED.  While it runs, its process tree is sampled (CPU, RSS,
GPU) in memory; the samples are written as sys/* metrics after the child exits, so the run
keeps a single writer at any time.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.config.schema import Resources

if TYPE_CHECKING:  # pragma: no cover
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

    def __call__(self) -> int:
        return run_command(self)


def _manifest(task: CommandTask) -> dict[str, Any]:
    from dii_hpc.launch.manifest import git_info, runtime_manifest

    git = git_info(task.cwd)
    return {**runtime_manifest(), "command": task.command, "cwd": task.cwd,
            "git": {k: v for k, v in git.items() if k != "diff"}}, git.get("diff") or ""


def run_command(task: CommandTask) -> int:
    """Run the child, record logs, sys metrics and the end state; return its exit code."""
    import socket

    from dii_hpc.launch.sysmetrics import SystemSampler
    from dii_hpc.store.store import Store

    store = Store(task.store)
    rdir = store.run_dir(task.run_id)
    logs = rdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    manifest, diff = _manifest(task)
    slurm = {k: v for k, v in manifest["slurm"].items()}
    if slurm.get("array_job_id") and slurm.get("array_task_id"):
        slurm["job_id"] = f"{slurm['array_job_id']}_{slurm['array_task_id']}"
    store.update_run(task.run_id, status="RUNNING", start_time=time.time(), manifest=manifest,
                     launch={"executor": "slurm" if slurm else "local",
                             "host": socket.gethostname(), "pid": os.getpid(),
                             "stdout": str(logs / "stdout.log"),
                             "stderr": str(logs / "stderr.log")},
                     **({"slurm": slurm} if slurm else {}))
    env = {**os.environ, **task.env, "DII_HPC_STORE": str(store.root),
           "DII_HPC_RUN_ID": task.run_id}
    samples: list[dict[str, float]] = []
    with open(logs / "stdout.log", "ab") as out, open(logs / "stderr.log", "ab") as err:
        try:
            child = subprocess.Popen(task.command, cwd=task.cwd, env=env, stdout=out, stderr=err)
        except OSError as exc:
            err.write(f"dii-hpc run: cannot start {task.command[0]!r}: {exc}\n".encode())
            return _finish(store, task.run_id, 127, samples, diff, f"cannot start: {exc}")
        sampler = SystemSampler(lambda m, _s: samples.append(m), task.sys_metrics_s,
                                pid=child.pid).start()
        previous = _forward_signals(child)
        try:
            code = child.wait()
        finally:
            sampler.stop()
            _restore_signals(previous)
    return _finish(store, task.run_id, code, samples, diff)


def _forward_signals(child: subprocess.Popen[bytes]) -> dict[int, Any]:
    """SIGTERM/SIGINT to us go to the child too; submitit's preempt warning is absorbed here
    (its default action would kill an unprepared command; Slurm still ends it at the limit)."""
    from dii_hpc.slurm.preempt import preempt_signal

    previous: dict[int, Any] = {}
    handlers = {preempt_signal(): lambda s, _f: None,  # overridden below when it is TERM
                signal.SIGTERM: lambda s, _f: child.send_signal(s),
                signal.SIGINT: lambda s, _f: child.send_signal(s)}
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
            error: str | None = None) -> int:
    from dii_hpc.tracking.run import start_run

    rec = store.run(run_id)
    run = start_run(rec["experiment"], run_id=run_id, store=store, kind=rec.get("kind", "train"))
    for step, sample in enumerate(samples):
        run.log_metrics(sample, step=step)
    if diff:
        run.log_dict("git.diff.json", {"diff": diff})
    run.log_params({"exit_code": code})
    if code == 0:
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
                   setup: list[str], executor: str) -> tuple[str, str, str, Any]:
    """Create the run and start it: inline (local/debug) or as one Slurm job via submitit.

    Returns (run_id, executor kind, job id or '', the CommandTask or the submitit job)."""
    from dii_hpc.errors import SchedulerError
    from dii_hpc.launch import submit as sub

    kind, _ = sub.choose_executor(executor)
    store.ensure_writable()
    run_id = create(store, experiment, command, {"launcher": "dii-hpc run"})
    spec = {"argv": list(command), "cwd": os.getcwd(), "setup": list(setup),
            "resources": resources.model_dump(mode="json")}
    try:
        return (run_id, *launch(store, experiment, run_id, spec, kind))
    except SchedulerError:
        store.delete_run(run_id)  # nothing half-submitted
        raise


def launch(store: Store, experiment: str, run_id: str, spec: dict[str, Any],
           kind: str) -> tuple[str, str, Any]:
    """Start (or restart: `resubmit`) the command ``spec`` of a run; the jobs record keeps the
    spec, so that `resubmit --failed` can launch it again with the same resources.

    Returns (executor kind, job id or '', the CommandTask to run here or the submitit job)."""
    from dii_hpc.errors import SchedulerError
    from dii_hpc.launch import submit as sub

    resources = Resources(**spec["resources"])
    task = CommandTask(str(store.root), run_id, list(spec["argv"]), spec["cwd"], resources.sys_metrics_s)
    name = f"run-{run_id}"
    record = {"submission_id": name, "experiment": experiment, "executor": kind,
              "runs": {run_id: ""}, "submitted": time.time(), "plan_file": None, "command": spec}
    if kind != "slurm":
        store.write_jobs_record(name, record)
        return kind, "", task
    folder = store.jobs_dir / name
    fresh = not folder.exists()
    params = sub.resource_parameters(resources, spec["setup"], store.root, f"dii-run-{experiment}")
    try:
        ex = sub.make_submitit("slurm", folder, resources, params)
        with contextlib.redirect_stderr(io.StringIO()):
            job = ex.submit(task)
    except Exception as err:  # noqa: BLE001
        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        raise SchedulerError(f"sbatch rejected the job: {sub.slurm_message(err)}") from err
    store.write_jobs_record(name, {**record, "runs": {run_id: str(job.job_id)},
                                   "submitted": time.time()})
    return kind, str(job.job_id), job


def command_spec(store: Store, run_id: str) -> dict[str, Any] | None:
    """The command spec `launch` recorded for a `dii-hpc run` run (None for other runs)."""
    from dii_hpc.store.atomic import read_json

    try:
        return read_json(store.jobs_dir / f"run-{run_id}.json").get("command")
    except (OSError, ValueError):
        return None


def logs_dir(store: Store, run_id: str) -> Path:
    return store.run_dir(run_id) / "logs"
