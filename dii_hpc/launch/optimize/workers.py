"""The login-node side of an adaptive sweep: prepare the study at submit, find, restart,
cancel and wait for its workers.

A study's workers are the rows of its plans (``worker`` k); which job runs which worker is in
``jobs/<submission>.json`` under ``workers`` (index -> job id), next to the usual ``runs``
(empty: trial runs are made by the workers).  A worker is alive while its Slurm job is
pending or running (one query for all), or, locally, while its process (submitit's local job
id is the pid) exists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput, InfraError
from dii_hpc.launch.optimize import samplers
from dii_hpc.launch.optimize import study as studymod

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.config.schema import ExperimentConfig
    from dii_hpc.launch.submit import SubmitResult
    from dii_hpc.store.store import Store

VANISH_GRACE_S = 120.0  # a job just submitted may not be in sacct yet


def remaining(store: Store, experiment: str, spec: dict[str, Any]) -> int:
    """Trials still to ask (after recovering those of dead workers), 0 for a new study."""
    if not (studymod.study_dir(store, experiment) / studymod.JOURNAL_FILE).exists():
        return int(spec["n_trials"])
    study = studymod.open_study(store, experiment, spec)
    with studymod.claim_lock(study):
        studymod.recover(study, store)
        return studymod.tally(study.get_trials(deepcopy=False)).remaining(int(spec["n_trials"]))


def _check(store: Store, experiment: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The study's spec so far (None for a new one); BadInput when ``spec`` is another study
    (refused here, not on a node: Optuna and cmaes must be present too)."""
    samplers.make_sampler(spec, 0)
    before = studymod.read_spec(store, experiment)
    if before is not None:
        key = studymod.same_study(before, spec)
        if key:
            raise BadInput(f"sweep.optimize.{key}: experiment {experiment} already has a study "
                           f"with {key} {before.get(key)!r}; name another experiment for a new one")
    return before


def _refuse_full(experiment: str, spec: dict[str, Any], todo: int) -> None:
    if todo <= 0:
        raise BadInput(f"sweep.optimize.n_trials: the study of {experiment} has its "
                       f"{spec['n_trials']} trials; raise n_trials to run more")


def preview(store: Store, config: ExperimentConfig) -> dict[str, Any]:
    """What submitting ``config`` would start, changing nothing (`submit --dry-run`): the
    spec, the study so far (its trials by state), the trials left, the workers and the
    sampler seed each starts with (`launch.optimize.trials.start`)."""
    spec = studymod.spec_of(config.sweep.adaptive())
    experiment = config.experiment
    before = _check(store, experiment, spec)
    trials = []
    journal = studymod.study_dir(store, experiment) / studymod.JOURNAL_FILE
    if before is not None and journal.exists():
        trials = studymod.open_study(store, experiment, spec).get_trials(deepcopy=False)
    counts = studymod.tally(trials)
    lost = sum(1 for t in trials if t.state.name == "RUNNING" and studymod.lost_reason(t, store))
    todo = counts.remaining(int(spec["n_trials"])) + lost  # asked again after recovery
    _refuse_full(experiment, spec, todo)
    workers = min(int(spec["parallel"]), todo)
    return {"spec": spec, "new": before is None, "counts": counts, "remaining": todo,
            "workers": workers,
            "seeds": [samplers.worker_seed(spec, k, len(trials)) for k in range(workers)]}


def prepare(store: Store, config: ExperimentConfig, submission: str) -> tuple[int, Any]:
    """Write (or check and extend) the study of ``config``; (workers to start, undo)."""
    spec = studymod.spec_of(config.sweep.adaptive())
    experiment = config.experiment
    sdir = studymod.study_dir(store, experiment)
    before = _check(store, experiment, spec)
    todo = remaining(store, experiment, spec)
    _refuse_full(experiment, spec, todo)
    subs = [*(before or {}).get("submissions", []), submission]
    studymod.write_spec(store, experiment, {**spec, "experiment": experiment,
                                            "submissions": subs, "updated": time.time()})
    studymod.open_study(store, experiment, spec, create=True)

    def undo() -> None:
        if before is None:
            shutil.rmtree(sdir, ignore_errors=True)
        else:
            studymod.write_spec(store, experiment, before)

    return min(int(spec["parallel"]), todo), undo


# ------------------------------------------------------------------------------- workers
def workers(store: Store, experiment: str) -> list[dict[str, Any]]:
    """Every worker job of the experiment's study, oldest submission first."""
    from dii_hpc.records import jobs

    return [{"index": int(index), "job_id": job_id, "executor": rec.executor,
             "plan_file": rec.plan_file, "submitted": rec.submitted, "host": rec.host}
            for _name, rec in jobs.every(store) if rec.experiment == experiment
            for index, job_id in rec.workers.items()]


def alive(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workers whose job is pending or running (one scheduler query for all)."""
    from dii_hpc.vocabulary import ACTIVE

    slurm = [w for w in found if w["executor"] == "slurm"]
    states: dict[str, Any] = {}
    if slurm:
        from dii_hpc.slurm import commands

        states = commands.query_jobs([w["job_id"] for w in slurm])
    now, out = time.time(), []
    for w in found:
        if w["executor"] == "slurm":
            state = (states.get(w["job_id"]) or {}).get("state")
            if state in ACTIVE or (state is None and now - w["submitted"] < VANISH_GRACE_S):
                out.append(w)
        elif w["executor"] == "local" and _pid_alive(w):
            out.append(w)
    return out


def _pid_alive(w: dict[str, Any]) -> bool:
    import socket

    if w.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(w["job_id"]), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def cancel_targets(store: Store, experiment: str) -> tuple[list[str], list[int]]:
    """(Slurm job ids, local pids) of the study's live workers, for `dii-hpc cancel`."""
    if studymod.read_spec(store, experiment) is None:
        return [], []
    live = alive(workers(store, experiment))
    return ([w["job_id"] for w in live if w["executor"] == "slurm"],
            [int(w["job_id"]) for w in live if w["executor"] == "local"])


def stop(store: Store, experiment: str) -> tuple[list[str], int]:
    """`dii-hpc cancel` of a study: its live workers' jobs are noted as cancelled (before
    any signal: `study.note_cancel`), the local ones stopped; (Slurm job ids to scancel,
    local workers stopped)."""
    slurm_ids, pids = cancel_targets(store, experiment)
    if slurm_ids or pids:
        studymod.note_cancel(store, experiment, [*slurm_ids, *map(str, pids)])
    return slurm_ids, interrupt(pids)


def interrupt(pids: list[int]) -> int:
    """Stop local workers: SIGTERM to submitit's local controller (its job id), which hands
    it to the worker and waits for it: the worker's own handler stops its trial, whose run
    ends (CANCELLED after `study.note_cancel`) however long its end takes.  (A SIGINT would
    make the controller kill the worker a second later, its run's end cut short; a worker
    still starting, whose SIGTERM submitit lets pass, finds the cancel at its first claim.)"""
    import signal

    stopped = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
            stopped += 1
    return stopped


def missing(store: Store, experiment: str) -> tuple[Path, list[int]] | None:
    """The workers `dii-hpc resubmit` starts again: (the latest plan, its worker indexes that
    are gone), as many as trials remain and no live worker covers; None without a study."""
    from dii_hpc.launch.task import read_plan

    spec = studymod.read_spec(store, experiment)
    if spec is None:
        return None
    found = workers(store, experiment)
    if not found:
        return None
    live = alive(found)
    need = min(int(spec["parallel"]), remaining(store, experiment, spec)) - len(live)
    plan_file = Path(found[-1]["plan_file"])  # the latest plan: its config, its worker keys
    if need <= 0:
        return plan_file, []
    busy = {w["index"] for w in live if w["plan_file"] == str(plan_file)}
    free = [row["index"] for row in read_plan(plan_file)["tasks"] if row["index"] not in busy]
    return plan_file, free[:need]


def wait(store: Store, experiment: str, job_ids: list[str], executor: str,
         poll_s: float = 5.0) -> None:
    """Block until the given worker jobs have ended (Slurm: one query per round)."""
    from dii_hpc import progress

    mine = [w for w in workers(store, experiment) if w["job_id"] in set(job_ids)]
    with progress.bar(f"{experiment}: workers ended", len(mine)) as bar:
        while True:
            live = alive(mine)
            bar.update(completed=len(mine) - len(live))
            if not live:
                return
            time.sleep(poll_s)


def finish(store: Store, res: SubmitResult) -> list[dict[str, Any]]:
    """`submit` of an adaptive sweep that waits, once the caller ran `submit.finish_here`
    (local workers have ended): the Slurm ones are waited for; then the status rows of the
    study's trial runs (reconciled).  `submit` imports this module: not the other way round."""
    from dii_hpc.launch import status

    if res.executor == "slurm":
        wait(store, res.experiment, res.job_ids, res.executor)
    trials = {r["run_id"] for r in store.records(res.experiment)
              if "trial" in (r.get("tags") or {})}
    return [r for r in status.reconcile(store, res.experiment) if r["run_id"] in trials]


def of_submission(store: Store, experiment: str, submission: str | None) -> bool:
    """Whether ``submission`` started workers of the study of ``experiment``."""
    spec = studymod.read_spec(store, experiment)
    return spec is not None and submission in (spec.get("submissions") or [])


def trial_runs(store: Store, experiment: str) -> list[str]:
    """The runs of the study's results, in trial order: complete, pruned and failed by the
    user's code (a trial lost with its worker was asked again: its run is no result)."""
    spec = studymod.read_spec(store, experiment) or {}
    trials = studymod.open_study(store, experiment, spec).get_trials(deepcopy=False)
    return [t.user_attrs["run_id"] for t in sorted(trials, key=lambda t: t.number)
            if t.state.is_finished() and "lost" not in t.user_attrs and t.user_attrs.get("run_id")]


def outcome(store: Store, experiment: str) -> dict[str, Any]:
    """After the workers ended: BadInput for a stopped study, InfraError for trials left."""
    spec = studymod.read_spec(store, experiment) or {}
    study = studymod.open_study(store, experiment, spec)
    error = study.user_attrs.get("error")
    if error:
        raise BadInput(error)
    counts = studymod.tally(study.get_trials(deepcopy=False))
    n = int(spec["n_trials"])
    if counts.done < n:
        raise InfraError(f"study of {experiment}: {counts.done} of {n} trials done and no "
                         f"worker left; dii-hpc resubmit {experiment} --failed restarts them")
    return {"done": counts.done, "complete": counts.complete, "pruned": counts.pruned,
            "failed": counts.failed, "lost": counts.lost}
