"""A worker of an adaptive sweep: one array task (or local process) that runs trials.

The loop: under the study's claim lock, tell the result of the trial this worker ran last,
recover trials whose worker is gone, then ask the study for a trial while fewer than
`n_trials` are done or running (one batch of the journal: `journal.batch`); outside the
lock, run it as a tracked run of its own (run id kept as the trial's user attr ``run_id``;
the run gets a ``trial`` section), end the run, and go again.  A worker with nothing left to ask stays
while other workers' trials run, so a trial lost with its worker (killed, requeued, node
gone) is asked again by a live worker instead of waiting for `dii-hpc resubmit`.

Pruning: the sweep's metric is watched on the run (`Run.on_metric`, off the hot path of every
other key); each logged value is reported to the trial, and a prune raises `TrialPruned` out
of the user's `log_metric` call: the run ends PRUNED, the trial is told PRUNED.

Preemption and time limits: the worker always asks submitit to requeue it (same task, no
state); the interrupted trial's run ends KILLED, and the worker's next life (same worker key,
new token) finds it and has it asked again.  How a worker stops (signals held around a claim,
SIGTERM, a cancel) is `launch.optimize.stopping`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from dii_hpc.errors import BadInput
from dii_hpc.launch.optimize import samplers
from dii_hpc.launch.optimize import stopping as stopmod
from dii_hpc.launch.optimize import study as studymod
from dii_hpc.launch.task import TaskRef, TaskRunner
from dii_hpc.records import trial as trialrec

LINGER_POLL_S = 2.0  # how often an idle worker looks again while others' trials run


@dataclass
class Worker:
    """What one worker knows: its plan row, the study and the unit it trains (each trial
    builds its own Executor from its own config: `_trial_config`)."""

    plan: dict[str, Any]
    index: int
    store: Any
    spec: dict[str, Any]
    study: Any
    unit: Any
    me: dict[str, str]
    dists: dict[str, Any] = field(default_factory=dict)
    ran: list[int] = field(default_factory=list)
    job: str | None = None  # submitit's job id (what `dii-hpc cancel` notes)
    claimed: dict[str, Any] = field(default_factory=dict)  # the last claim's run_id, retry_of
    untold: tuple[int, dict[str, Any]] | None = None  # a trial ended, told by the next claim
    started: float = field(default_factory=time.time)

    @property
    def experiment(self) -> str:
        experiment: str = self.plan["experiment"]
        return experiment


class WorkerRunner(TaskRunner):
    """What submitit pickles for a worker task: `work` instead of `task.execute` (the
    checkpoint protocol is TaskRunner's: see `_Requeue`)."""

    def __call__(self, ref: TaskRef) -> dict[str, Any]:
        from dii_hpc.launch import task

        task._guard_preempt()
        if not self.catch:
            return work(ref)
        try:
            return work(ref)
        except Exception as err:  # noqa: BLE001 - debug executor: see TaskRunner
            return {"error": f"{type(err).__name__}: {err}"}


class _Requeue:
    """Stands in for the Executor in `task._CURRENT`: on the preempt signal submitit requeues
    the worker as it is (its trials live in the study, not in a checkpoint)."""

    def checkpoint(self) -> dict[str, Any]:
        return {}


def work(ref: TaskRef) -> dict[str, Any]:
    """The body of worker task ``ref.index`` (a plan row with ``worker``)."""
    from dii_hpc.launch import task

    worker = start(task.read_plan(ref.plan_file), ref.index)
    task._CURRENT.update(executor=_Requeue(), checkpointable=True, requeued=False, run=None)
    before = stopmod.set_handler(signal.SIGTERM, stopmod.on_sigterm)
    try:
        while True:
            with stopmod.held() as got:
                state, trial = claim(worker)
            if got:  # a signal came while the claim lock was held: act on it now
                stopmod.abandon(worker, trial, got)
            if state == "done":
                break
            # Requeued at its time limit only with a trial in hand: a lingering worker just ends.
            task._CURRENT["checkpointable"] = state == "trial"
            if state == "wait":
                time.sleep(LINGER_POLL_S)
                continue
            try:
                run_trial(worker, trial)
            except (KeyboardInterrupt, SystemExit):
                stopmod.ignore_sigterm()
                stopmod.abandon(worker, trial, [])
                raise
    finally:
        with contextlib.suppress(Exception):  # on the way out; `study.settle` covers it
            tell_untold(worker)
        stopmod.restore(before)
        task._CURRENT.clear()
    return {"worker": ref.index, "trials": worker.ran}


def _job_id() -> str | None:
    """This worker's job id as submitit (and the jobs record) name it; None outside a job."""
    with contextlib.suppress(RuntimeError, KeyError, ValueError):
        import submitit

        return str(submitit.JobEnvironment().job_id)
    return None


def start(plan: dict[str, Any], index: int) -> Worker:
    """Open the study for worker ``index`` of the plan."""
    from dii_hpc.launch.executor import Unit
    from dii_hpc.launch.task import limit_threads, task_config
    from dii_hpc.store.store import Store

    store = Store(plan["store"])
    spec = studymod.read_spec(store, plan["experiment"])
    if spec is None:
        raise BadInput(f"experiment {plan['experiment']} has no study (study/study.json)")
    _, config = task_config(plan, index)
    limit_threads(config.resources.cpus_per_task)
    probe = studymod.open_study(store, plan["experiment"], spec)
    seed = samplers.worker_seed(spec, index, len(probe.get_trials(deepcopy=False)))
    me = {"worker": f"{plan['submission_id']}/{index}", "token": f"{socket.gethostname()}:{os.getpid()}"}
    return Worker(plan, index, store, spec, studymod.open_study(store, plan["experiment"], spec,
                                                                seed=seed),
                  Unit.from_dict(plan["tasks"][index]["unit"]), me,
                  samplers.distributions(spec["space"]), job=(job := _job_id()),
                  started=studymod.job_started(job))


def claim(w: Worker) -> tuple[str, Any]:
    """("trial", trial) | ("wait", None) while others' trials run | ("done", None).

    One batch of the journal (`journal.batch`), whose lock is the claim lock: taken once,
    one fsync, queries that replay only what this worker appended.  The trial's run id is
    chosen here (user attr ``run_id``, before its run exists: `study.lost_reason` gives a
    run that never appears `ASK_GRACE_S`, as it gives a trial with no run id)."""
    from dii_hpc.store.ids import new_run_id

    with studymod.claim_lock(w.study):
        tell_untold(w)  # the trial this worker just ran
        studymod.recover(w.study, w.store, w.me)
        if w.study.user_attrs.get("error") or stopmod.cancelled(w):
            return "done", None  # a bad-input stop (every trial would fail the same way), or
            # a cancel whose signal has not reached this worker (e.g. submitit's let it pass)
        spec = studymod.read_spec(w.store, w.experiment) or w.spec  # n_trials may have grown
        counts = studymod.tally(w.study.get_trials(deepcopy=False))
        if counts.remaining(int(spec["n_trials"])) <= 0:
            return ("wait", None) if counts.running else ("done", None)
        trial = w.study.ask(w.dists)
        w.claimed = {"run_id": new_run_id(), "retry_of": trial.user_attrs.get("retry_of")}
        for key, value in (("worker", w.me["worker"]), ("token", w.me["token"]),
                           ("run_id", w.claimed["run_id"])):
            trial.set_user_attr(key, value)
    return "trial", trial


def _trial_config(w: Worker, trial: Any) -> tuple[dict[str, Any], Any, Any, dict[str, Any]]:
    """The trial's resolved raw config, its validated config, the Executor built from it
    and the params its run records: what a sweep task with the same values has."""
    from dii_hpc.launch import task
    from dii_hpc.launch.plan import point_params

    values = dict(trial.params)
    raw, config = task.task_config(w.plan, w.index, values, f"trial {trial.number}")
    ex = task.build_executor(w.plan, config)
    return raw, config, ex, point_params(config.params, values, None, ex.unit_params(w.unit))


def _open_run(w: Worker, trial: Any, raw: dict[str, Any], config: Any,
              params: dict[str, Any]) -> Any:
    """The trial's run (its id recorded on the trial by the claim), started like any task's
    run (manifest, logs, launch and slurm sections) with its trial section, in the write
    that creates it (a worker stopped before it leaves a run id with no run: recovered as
    one that never started, `study.lost_reason`)."""
    from dii_hpc import distributed
    from dii_hpc.launch import task
    from dii_hpc.tracking import active

    rid = w.claimed["run_id"]
    tags = {**config.tags, "submission": w.plan["submission_id"], "trial": str(trial.number)}
    section = trialrec.TrialSection(
        number=trial.number, metric=w.spec["metric"], direction=w.spec["direction"],
        worker=w.me["worker"], space={k: next(iter(e)) for k, e in w.spec["space"].items()},
        retry_of=w.claimed["retry_of"])
    try:  # the job is the worker's, shared by its trials: its slurm section says which
        run = task._start(w.plan, w.index, raw, config, distributed.env(), run_id=rid,
                          sections={trialrec.SECTION: section.model_dump(exclude_none=True),
                                    "slurm": {"worker": w.me["worker"]}}, store=w.store,
                          new={"params": params, "tags": tags})
    except (KeyboardInterrupt, SystemExit) as err:  # a stop while the run was being started
        started = active.top()
        if started is not None and started.id == rid:
            stopmod.end_stopped(w, started, err)
        raise
    task._CURRENT["run"] = run
    with contextlib.suppress(ValueError):
        signal.signal(stopmod.preempt_signal(), task._on_preempt)  # start_run chained its own flush in front
    return run


def _reporter(trial: Any, metric: str) -> Any:
    """The watcher of the sweep's metric: report each value, prune when the pruner says so."""
    from optuna import TrialPruned

    auto = {"step": 0}

    def report(value: float, step: int | None) -> None:
        at = auto["step"] if step is None else step
        auto["step"] = at + 1
        trial.report(value, at)
        if trial.should_prune():
            raise TrialPruned(f"pruned at step {at} ({metric} = {value:.6g})")

    return report


def run_trial(w: Worker, trial: Any) -> None:
    """Run one trial as a tracked run and tell the study how it ended.

    The run ends first and the trial is told after (a worker dying in between leaves a run
    that `study.settle` tells from); a failure's ``error`` attr is set before its run ends."""
    from optuna.trial import TrialState

    from dii_hpc.launch.task import _last_line

    raw, config, ex, params = _trial_config(w, trial)
    run = _open_run(w, trial, raw, config, params)
    stop = None
    try:
        with run:
            try:
                stop = _body(w, trial, run, config, ex)
            except (KeyboardInterrupt, SystemExit) as err:
                stopmod.end_stopped(w, run, err)
                raise
            except Exception as err:
                line = _last_line(err)
                trial.set_user_attr("error", line)
                trialrec.end(run, state="FAIL", error=line, save=False)  # with its end
                raise
    except Exception:  # noqa: BLE001 - the user's failure is this trial's result; go on
        _tell_later(w, trial.number, state=TrialState.FAIL)
    w.ran.append(trial.number)
    if stop:
        tell_untold(w)
        raise BadInput(stop)


def _body(w: Worker, trial: Any, run: Any, config: Any, ex: Any) -> str | None:
    """Train as a sweep task trains (`task.train`), then end the run and tell the trial;
    the one-line stop reason, if any."""
    from optuna import TrialPruned

    from dii_hpc import distributed
    from dii_hpc.launch import task

    metric, pruned = w.spec["metric"], None
    if w.spec["pruner"] != "none":
        run.on_metric(metric, _reporter(trial, metric))
    try:
        task.train(w.plan, w.index, ex, w.unit, run, config, distributed.env())
    except TrialPruned as err:
        pruned = str(err)
    finally:
        run.on_metric(metric, None)
    run.flush(save=False)  # the points and their summary; run.json is written by its end
    value = (run.record.get("metrics", {}).get(metric) or {}).get("last")
    return _end(w, trial, run, value, pruned)


def _end(w: Worker, trial: Any, run: Any, value: Any, pruned: str | None) -> str | None:
    """The run's end state, then the trial's (see `study.settle`); a stop reason or None."""
    from optuna.trial import TrialState

    if pruned is not None:
        trialrec.end(run, state="PRUNED", value=value, pruned=pruned, save=False)
        run.finish("PRUNED", pruned)
        _tell_later(w, trial.number, state=TrialState.PRUNED)
        return None
    if not studymod._finite(value):
        logged = ", ".join(sorted(run.record.get("metrics", {}))) or "none"
        never = value is None
        why = (f"sweep.optimize.metric: {w.spec['metric']!r} was never logged by the "
               f"train_function (logged: {logged})" if never else
               f"sweep.optimize.metric: {w.spec['metric']!r} ended {value}, not a number")
        trial.set_user_attr("error", why)
        if never:
            w.study.set_user_attr("error", why)  # every trial would end the same way: stop
        trialrec.end(run, state="FAIL", error=why, save=False)
        run.finish("FAILED", why)
        _tell_later(w, trial.number, state=TrialState.FAIL)
        return why if never else None
    trialrec.end(run, state="COMPLETE", value=float(value), save=False)
    run.finish("FINISHED")
    _tell_later(w, trial.number, values=float(value))
    return None


def _tell_later(w: Worker, number: int, **result: Any) -> None:
    """The trial's result, told by this worker's next claim, in its batch of the journal
    (one lock, one fsync for both): its run's end is already on disk, so a worker that dies
    first loses nothing (`study.settle` tells it from the run, once)."""
    w.untold = (number, result)


def tell_untold(w: Worker) -> None:
    """Tell the trial `_tell_later` kept (the claim does, first; and a worker that stops)."""
    if w.untold is not None:
        number, result = w.untold
        studymod._tell(w.study, number, **result)
        w.untold = None
