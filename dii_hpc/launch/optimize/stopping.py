"""How a worker of an adaptive sweep stops (`launch.optimize.trials` is what it does meanwhile).

A worker stops on SIGTERM (scancel, the end of a preempted job), on Ctrl-C's SIGINT, or at
its next claim once `dii-hpc cancel` noted its job (`cancelled`); the preempt signal requeues
it.  Whatever the stop, no trial may be left RUNNING with nobody to re-ask it before
`study.ASK_GRACE_S`: the stop signals are held while the claim lock is held (`held`), and a
stopping worker ends its trial's run (`end_stopped`: KILLED, or CANCELLED after a cancel) and
gives up its trial (`abandon`: told from its run, else failed as lost and asked again).

The signal handlers hold no state here: `held` collects the signals of one claim in a list
of its own, and the handlers submitit and the run chained stay in `task._CURRENT`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from dii_hpc.launch.optimize import study as studymod

if TYPE_CHECKING:
    from dii_hpc.launch.optimize.trials import Worker


def on_sigterm(signum: int, frame: Any) -> None:
    """scancel, or the end of a preempted job: the kill follows in KillWait seconds, so stop
    now (the trial's run ends KILLED, its trial is asked again) rather than begin another
    trial (submitit's own handler would let the worker go on)."""
    raise SystemExit(128 + signum)


def ignore_sigterm() -> None:
    """On the way out: a second SIGTERM (a requeue sends one after the warning) must not cut
    short the run's end record; Slurm's KILL comes KillWait seconds later anyway."""
    set_handler(signal.SIGTERM, signal.SIG_IGN)


def set_handler(sig: int, handler: Any) -> Any:
    """Install ``handler``; the previous one (None off the main thread: nothing changed)."""
    try:
        return signal.signal(sig, handler)
    except (ValueError, TypeError):
        return None


def restore(before: Any) -> None:
    """The worker is done: put back the SIGTERM handler it replaced (``before``) and, for the
    preempt signal, submitit's handler (or the default), so nothing of the worker's outlives it."""
    from dii_hpc.launch import task

    set_handler(signal.SIGTERM, before)
    with contextlib.suppress(ValueError, TypeError):
        signal.signal(preempt_signal(), task._CURRENT.get("submitit_handler") or signal.SIG_DFL)


def preempt_signal() -> int:
    """The signal Slurm sends before a preemption or the time limit (`slurm.preempt`)."""
    from dii_hpc.slurm.preempt import preempt_signal as configured

    return configured()


@contextlib.contextmanager
def held() -> Any:
    """Hold the stop signals (SIGTERM, Ctrl-C's SIGINT) and the preempt signal while the
    claim lock is held: an exit between the ask and the end of the claim would leave a trial
    running with no run, which nobody re-asks before `study.ASK_GRACE_S`.  Yields the list of
    signals that came meanwhile."""
    got: list[int] = []
    sigs = {signal.SIGTERM, signal.SIGINT, preempt_signal()}
    old = {sig: set_handler(sig, lambda n, _f: got.append(n)) for sig in sigs}
    try:
        yield got
    finally:
        for sig, handler in old.items():
            if handler is not None:
                signal.signal(sig, handler)


def abandon(w: Worker, trial: Any, signals: list[int]) -> None:
    """The worker stops: its trial (if still running) is told from its run when that run
    ended (`study.settle`), else failed as lost at once, so the next claim by any worker asks
    it again, and a run it never started ends too; then the held ``signals`` are delivered."""
    from optuna.trial import TrialState

    if trial is not None:
        with contextlib.suppress(Exception):  # on the way out: best effort, recovery covers it
            frozen = w.study._storage.get_trial(trial._trial_id)
            ended = frozen.state != TrialState.RUNNING
            if not ended and not studymod.settle(w.study, frozen, w.store):
                w.study._storage.set_trial_user_attr(trial._trial_id, "lost",
                                                     "its worker stopped")
                studymod._tell(w.study, trial.number, state=TrialState.FAIL)
                end_unstarted(w, frozen.user_attrs.get("run_id"))
    for sig in signals:
        os.kill(os.getpid(), sig)  # the handlers now in place act on it


def end_unstarted(w: Worker, run_id: str | None) -> None:
    """A trial's run the worker created but stopped before starting: CANCELLED when the
    cancel asked for it, else KILLED (nobody else would ever end it).  The run is created
    RUNNING, by this process, in the write that starts it (`trials._open_run`): a stop after
    that write and before its writer was in hand left it RUNNING until `status` found the
    worker gone; a PENDING one is a run created by an earlier version."""
    from dii_hpc.errors import NotFound
    from dii_hpc.store import records
    from dii_hpc.tracking.ending import CANCELLED_BY_USER

    if not run_id:
        return
    try:
        record = w.store.run(run_id)
    except NotFound:  # stopped between the claim, which chose its id, and its creation
        return
    ours = record.get("pid") == os.getpid() and record.get("host") == socket.gethostname()
    if not (record.get("status") == "PENDING" or (record.get("status") == "RUNNING" and ours)):
        return
    if cancelled(w) or records.cancel_requested(w.store.run_dir(run_id)):
        w.store.update_run(run_id, status="CANCELLED", end_time=time.time(),
                           error=CANCELLED_BY_USER)
    else:
        w.store.update_run(run_id, status="KILLED", end_time=time.time(),
                           error="its worker stopped before the run started")


def end_stopped(w: Worker, run: Any, err: BaseException) -> None:
    """The trial's run when its worker stops (KeyboardInterrupt, SystemExit): KILLED, and
    CANCELLED when a cancel stopped the worker (even a trial begun after the cancel listed the
    runs it cancels); the trial is asked again (`abandon`)."""
    from dii_hpc.store import records

    ignore_sigterm()
    if cancelled(w):
        records.request_cancel(run.dir)
    run.finish("KILLED", f"its worker stopped ({type(err).__name__}); the trial is asked again")


def cancelled(w: Worker) -> bool:
    """Did `dii-hpc cancel` stop this worker's job (`study.note_cancel`)?"""
    return studymod.cancelled(w.store, w.experiment, w.job, w.started)
