"""The study of an adaptive sweep, kept in the store: no server, the journal is a file.

Layout: ``<store>/experiments/<exp>/study/`` holds ``study.json`` (the `sweep.optimize` spec
the study was made with, written atomically), ``journal.log`` (Optuna's JournalStorage over
a JournalFileBackend), ``cancelled.json`` (the worker jobs `dii-hpc cancel` stopped) and the
lock files.  The lock is Optuna's `JournalFileOpenLock` (``O_CREAT|O_EXCL``, which NFSv3+,
Lustre and GlusterFS honour, as the model registry relies on; the symlink lock worked on the
GlusterFS test bed too, but O_EXCL is the one both this module and the registry stand on).  A
lock whose holder died is broken after its grace period.

Workers hold that lock around "recover, count, ask" (`claim_lock`: one batch of the
journal, `journal.batch`): that is what keeps `n_trials` exact with many workers (two
workers cannot both see 23 of 24 trials taken and both ask) and what makes re-asking a lost
trial happen once.  (A second lock file, ``claim.lock``, did this before: each O_EXCL lock
costs four round trips to a networked filesystem's servers.)

Optuna is an optional extra (``dii-hpc[optuna]``): it is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from dii_hpc.errors import NotFound
from dii_hpc.launch.optimize.samplers import make_pruner, make_sampler, optuna_module
from dii_hpc.records import trial as trialrec
from dii_hpc.records.runs import last_value

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.config.schema import Optimize
    from dii_hpc.store.store import Store

STUDY_DIR = "study"
SPEC_FILE = "study.json"
JOURNAL_FILE = "journal.log"
CANCEL_FILE = "cancelled.json"  # worker job id -> when `dii-hpc cancel` stopped it
LOCK_GRACE_S = 30  # a lock not released for this long is taken to be a dead holder's
ASK_GRACE_S = 120.0  # a trial asked this long ago with no run yet: its worker died in between
#: What must match for a later submission to continue a study (n_trials, parallel may change).
IDENTITY = ("metric", "direction", "sampler", "pruner", "seed", "space")


def study_dir(store: Store, experiment: str) -> Path:
    return store.experiment_dir(experiment) / STUDY_DIR


def spec_of(optimize: Optimize) -> dict[str, Any]:
    """The JSON form of `sweep.optimize` (space entries as the user writes them)."""
    import json

    out = optimize.model_dump(by_alias=True, exclude={"space"})
    out["space"] = {key: dict([entry.kind]) for key, entry in optimize.space.items()}
    spec: dict[str, Any] = json.loads(json.dumps(out))  # as study.json reads back: lists
    return spec


_SPECS: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}  # path -> (stat, spec)


def read_spec(store: Store, experiment: str) -> dict[str, Any] | None:
    """study.json, re-read only when its stat changed (a worker looks at it in every claim,
    for a raised n_trials: a stat is one round trip on a shared filesystem, a read three;
    `write_spec` replaces the file by rename, so a new spec is a new inode)."""
    import copy

    from dii_hpc.store.atomic import read_json

    path = study_dir(store, experiment) / SPEC_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key, hit = (st.st_ino, st.st_mtime_ns, st.st_size), _SPECS.get(str(path))
    if hit is None or hit[0] != key:
        hit = _SPECS[str(path)] = (key, read_json(path))
    return copy.deepcopy(hit[1])


def write_spec(store: Store, experiment: str, spec: dict[str, Any]) -> None:
    from dii_hpc.store.atomic import write_json

    write_json(study_dir(store, experiment) / SPEC_FILE, spec)


def same_study(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The first key on which two specs differ in a way that makes them two studies."""
    return next((k for k in IDENTITY if a.get(k) != b.get(k)), None)


def _lock(path: Path) -> Any:
    return _lock_class()(str(path), grace_period=LOCK_GRACE_S)


@functools.cache
def _lock_class() -> Any:
    """Optuna's `JournalFileOpenLock`, released by one unlink.  Optuna renames the lock file
    aside, then unlinks it: two round trips to a networked filesystem's servers for what one
    does, and no safer (a holder whose lock was broken as stale removes whatever lock file
    is there either way; the O_EXCL create is what excludes)."""
    from optuna.storages.journal import JournalFileOpenLock

    class UnlinkLock(JournalFileOpenLock):
        def release(self) -> None:
            try:
                os.unlink(self._lock_file)
            except OSError as err:
                raise RuntimeError("Error: did not possess lock") from err

    return UnlinkLock


def storage(sdir: Path) -> Any:
    """Optuna's journal storage on the shared filesystem, with the O_EXCL lock, able to
    run a claim or a tell as one batch (`journal.batch`)."""
    from dii_hpc.launch.optimize import journal as journalmod

    optuna_module()
    sdir.mkdir(parents=True, exist_ok=True)
    journal = str(sdir / JOURNAL_FILE)
    return journalmod.storage(journal, _lock(Path(journal)))


def open_study(store: Store, experiment: str, spec: dict[str, Any], *, seed: int | None = None,
               create: bool = False) -> Any:
    """The experiment's study (made on the first call with ``create``)."""
    optuna = optuna_module()
    sdir = study_dir(store, experiment)
    if not create and not (sdir / JOURNAL_FILE).exists():
        raise NotFound("study of experiment", experiment, [])
    sampler = make_sampler(spec, spec.get("seed", 0) if seed is None else seed)
    return optuna.create_study(storage=storage(sdir), study_name=experiment, sampler=sampler,
                               pruner=make_pruner(spec), direction=spec["direction"],
                               load_if_exists=True)


@contextlib.contextmanager
def claim_lock(study: Any) -> Iterator[None]:
    """Held around recover + count + ask (see the module docstring): the journal's own lock,
    taken once for the whole claim (`journal.batch`), so no other process appends to the
    study meanwhile; every operation inside must go through ``study`` (another storage of
    the same journal would wait for this lock)."""
    with study._storage.batch():  # `storage`'s: a claim needs the lock, whatever the storage
        yield


def note_cancel(store: Store, experiment: str, job_ids: list[str]) -> None:
    """`dii-hpc cancel`, before it signals the study's workers: the jobs it stops, with the
    time.  A worker that finds its job here asks for no more trials, and the trial it was
    running ends CANCELLED, even one begun after the cancel listed the runs it cancels."""
    from dii_hpc.store.atomic import read_json, write_json

    path = study_dir(store, experiment) / CANCEL_FILE
    noted = read_json(path) if path.exists() else {}
    write_json(path, {**noted, **dict.fromkeys(map(str, job_ids), time.time())})


def cancelled(store: Store, experiment: str, job_id: str | None, since: float) -> bool:
    """Whether a cancel named job ``job_id`` after ``since`` (the worker's start: a local job
    id is a pid, which a later worker may have again)."""
    from dii_hpc.store.atomic import read_json

    path = study_dir(store, experiment) / CANCEL_FILE
    if job_id is None or not path.exists():
        return False
    with contextlib.suppress(OSError, ValueError):
        return float(read_json(path).get(job_id, 0.0)) >= since
    return False


def job_started(job: str | None) -> float:
    """When this worker's job began, which `dii-hpc cancel`'s time is compared with (a local
    job id is a pid, which a later worker may have again).  The job's process (submitit's
    local controller, an ancestor of this one) where the id names it, else this process: a
    cancel noted while this worker was still importing must stop it at its first claim, so
    the time is the process's start, never the moment the worker opened the study."""
    import psutil

    me = psutil.Process()
    with contextlib.suppress(psutil.Error, ValueError):
        if job is not None and job.isdigit():
            for proc in (me, *me.parents()):
                if proc.pid == int(job):
                    return float(proc.create_time())
    return float(me.create_time())


# ----------------------------------------------------------------------------- bookkeeping
@dataclass
class Tally:
    """Trials by what they mean for the budget of `n_trials`."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0  # the train_function failed: a result, counted
    lost: int = 0  # the worker died or was requeued: asked again, not counted
    running: int = 0
    waiting: int = 0  # enqueued (lost trials asked again) and not yet picked up

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed

    def remaining(self, n_trials: int) -> int:
        """Trials still to ask (the waiting ones are asked first, within the budget)."""
        return max(0, n_trials - self.done - self.running - self.waiting) + self.waiting


def tally(trials: list[Any]) -> Tally:
    from optuna.trial import TrialState

    out = Tally()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            out.complete += 1
        elif t.state == TrialState.PRUNED:
            out.pruned += 1
        elif t.state == TrialState.FAIL:
            if "lost" in t.user_attrs:
                out.lost += 1
            else:
                out.failed += 1
        elif t.state == TrialState.RUNNING:
            out.running += 1
        elif t.state == TrialState.WAITING:
            out.waiting += 1
    return out


def lost_reason(trial: Any, store: Store, me: dict[str, str] | None = None,
                now: float | None = None) -> str | None:
    """Why a RUNNING trial will never be told (its worker is gone), or None while it may be.

    ``me``: the asking worker's key and token; a trial of the same worker key with another
    token was left by this worker's previous life (killed, requeued, resubmitted)."""
    from dii_hpc.store.records import writer_gone
    from dii_hpc.vocabulary import ACTIVE, SUCCESSFUL

    attrs = trial.user_attrs
    if me and attrs.get("worker") == me["worker"] and attrs.get("token") != me["token"]:
        return "its worker was restarted"
    now = now or time.time()
    age = now - trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    rid = attrs.get("run_id")
    if not rid:
        return "its worker died before starting its run" if age > ASK_GRACE_S else None
    try:
        record = store.run(rid)
    except NotFound:
        return f"its run {rid} is gone" if age > ASK_GRACE_S else None
    status = record.get("status")
    if status in SUCCESSFUL:
        return None  # ended well; its worker died before telling: `settle` tells it
    if status not in ACTIVE:
        return f"its run {rid} ended {status}: {record.get('error') or 'no error recorded'}"
    gone = writer_gone(record, now=now)
    if gone:
        return f"its run {rid}: {gone}"
    if status == "PENDING" and age > ASK_GRACE_S:
        return f"its run {rid} never started"
    return None


def settle(study: Any, trial: Any, store: Store) -> bool:
    """Tell a RUNNING trial whose run has ended as a result (its worker died after the run,
    before the tell) from its run: its value, PRUNED, or the user's failure.  True when told."""
    from optuna.trial import TrialState

    rid = trial.user_attrs.get("run_id")
    if not rid:
        return False
    with contextlib.suppress(NotFound):
        record = store.run(rid)
        section = trialrec.of(record)
        if record.get("status") == "PRUNED":
            _tell(study, trial.number, state=TrialState.PRUNED)
            return True
        value = last_value(record, section.metric) if section is not None else None
        if record.get("status") == "FINISHED" and value is not None:
            _tell(study, trial.number, values=float(value))
            return True
        if record.get("status") == "FAILED" and "error" in trial.user_attrs:
            _tell(study, trial.number, state=TrialState.FAIL)  # the user's failure, not lost
            return True
    return False


def recover(study: Any, store: Store, me: dict[str, str] | None = None) -> list[int]:
    """Under the claim lock: fail the trials whose worker is gone (user attr ``lost``), and
    enqueue the params of every lost trial that has no retry yet (``retry_of``), once."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    recovered = []
    for t in trials:
        if t.state != TrialState.RUNNING or settle(study, t, store):
            continue
        why = lost_reason(t, store, me)
        if why:
            study._storage.set_trial_user_attr(t._trial_id, "lost", why)
            _tell(study, t.number, state=TrialState.FAIL)
            _end_dead_run(store, t.user_attrs.get("run_id"), why)
            recovered.append(t.number)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.state == TrialState.FAIL and "lost" in t.user_attrs and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            _end_dead_run(store, t.user_attrs.get("run_id"), t.user_attrs["lost"], dead_only=True)
    return recovered


def _end_dead_run(store: Store, run_id: str | None, why: str, dead_only: bool = False) -> None:
    """A lost trial's run still RUNNING (its writer died with the worker) ends FAILED, as
    `dii-hpc status` would end it (``dead_only``: only once its writer is evidently gone)."""
    from dii_hpc.store.records import writer_gone
    from dii_hpc.vocabulary import ACTIVE

    if not run_id:
        return
    with contextlib.suppress(NotFound):
        record = store.run(run_id)
        if record.get("status") in ACTIVE and (not dead_only or writer_gone(record)):
            store.update_run(run_id, status="FAILED", end_time=time.time(),
                             error=f"the run never finished: trial {why}")


def _tell(study: Any, number: int, **kwargs: Any) -> None:
    """study.tell, where a trial told meanwhile by another worker is not an error; one
    batch of the journal (`journal.batch`: its lock taken once, one fsync)."""
    from dii_hpc.launch.optimize.journal import batch

    with batch(study):
        study.tell(number, skip_if_finished=True, **kwargs)


def _finite(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
