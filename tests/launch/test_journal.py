"""A study's journal in batches (`launch.optimize.journal`): the lock held once for a group of
operations, queries that replay only this process's own appends, everything on disk after."""

from __future__ import annotations

import builtins
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.launch.optimize import journal, samplers
from dii_hpc.launch.optimize import study as studymod
from dii_hpc.store.store import Store

SPEC: dict[str, Any] = {"metric": "acc", "direction": "maximize", "n_trials": 6, "parallel": 2,
                        "sampler": "random", "pruner": "none", "seed": 0,
                        "space": {"x": {"uniform": [0.0, 1.0]}}}


def _study(store: Store) -> Any:
    studymod.write_spec(store, "e", SPEC)
    return studymod.open_study(store, "e", SPEC, create=True)


def _journal_opens(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    """Every open of the journal file in this process from now on (file objects and
    descriptors)."""
    seen: list[str] = []
    real, real_os = builtins.open, os.open

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            seen.append(str(args[0]) if args else str(kwargs.get("mode", "r")))
        return real(file, *args, **kwargs)

    def counting_os(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(file) == str(path):
            seen.append(f"fd {flags:#o}")
        return real_os(file, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(os, "open", counting_os)
    return seen


def test_a_batch_holds_the_lock_once_and_replays_only_its_own_appends(
        store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(store_path)
    study = _study(store)
    path = studymod.study_dir(store, "e") / studymod.JOURNAL_FILE
    lock = Path(f"{path}.lock")
    opens = _journal_opens(monkeypatch, path)
    reads: list[int] = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, at: reads.append(at) or real_pread(fd, n, at))
    with journal.batch(study):
        assert lock.exists()  # held for the whole batch
        trial = study.ask(samplers.distributions(SPEC["space"]))
        for key in ("worker", "token", "run_id"):
            trial.set_user_attr(key, f"{key}-value")
        seen = study.get_trials(deepcopy=False)
        assert seen[-1].user_attrs["run_id"] == "run_id-value"  # its own appends replayed
        study.tell(trial, 0.5)
        assert lock.exists()
    assert not lock.exists()
    assert len(opens) == 1  # one descriptor for the batch's reads and appends (Optuna opens
    # the file per query and per append)
    assert len(reads) <= 1  # the file read once at most; its own appends replayed from memory
    fresh = studymod.open_study(store, "e", SPEC)  # what another worker reads from the file
    (got,) = fresh.get_trials(deepcopy=False)
    assert got.value == 0.5 and got.user_attrs["token"] == "token-value"


def _teller(root: str, number: int) -> None:
    store = Store(root)
    study = studymod.open_study(store, "e", SPEC)
    studymod._tell(study, number, values=float(number))


def test_appends_of_other_processes_wait_for_the_batch_and_are_seen_after(
        store_path: Path) -> None:
    """Another process's tell (its own batch) cannot interleave: after ours, both are there;
    a batch's first query reads what others appended before it."""
    store = Store(store_path)
    study = _study(store)
    dists = samplers.distributions(SPEC["space"])
    first, second = study.ask(dists), study.ask(dists)
    ctx = mp.get_context("spawn")
    with journal.batch(study):
        proc = ctx.Process(target=_teller, args=(str(store_path), second.number))
        proc.start()
        study.tell(first, 1.0)
        assert study.get_trials(deepcopy=False)[second.number].state.name == "RUNNING"
    proc.join(timeout=60)
    assert proc.exitcode == 0
    with journal.batch(study):  # a new batch reads the other process's tell
        values = [t.value for t in study.get_trials(deepcopy=False)]
    assert values == [1.0, float(second.number)]
