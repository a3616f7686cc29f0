"""The server's cached runs table is `Store.runs` at every moment, re-reading only changes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import dii_hpc
from dii_hpc.errors import NotFound
from dii_hpc.store import records
from dii_hpc.store.annotations import annotate
from dii_hpc.store.store import Store
from dii_hpc.store.summary import compact
from dii_hpc.ui.listing import ExperimentRuns, RunsCache


def _same(cached: ExperimentRuns, store: Store) -> None:
    pd.testing.assert_frame_equal(cached.frame(), store.runs("exp"), check_dtype=False)


def _finished(store: Store, lr: float) -> str:
    with dii_hpc.start_run("exp", params={"lr": lr}, store=store) as run:
        run.log_metric("loss", lr, step=0)
        return run.id


def test_follows_every_kind_of_change(store_path: Path) -> None:
    store = Store(store_path)
    ids = [_finished(store, lr) for lr in (0.1, 0.01, 0.001)]
    cached = ExperimentRuns(store, "exp")
    _same(cached, store)

    compact(store, "exp")  # the summary now holds them: rows come from it
    _same(cached, store)

    annotate(store, ids[0], tags={"team": "vision"})  # an ended run changed: a marker
    assert cached.frame().set_index("run_id").loc[ids[0], "tags.team"] == "vision"
    _same(cached, store)

    live = dii_hpc.start_run("exp", params={"lr": 0.5}, store=store)  # a new, active run
    live.log_metric("loss", 3.0, step=0)
    live.flush()
    _same(cached, store)
    assert cached.active_ids() == [live.id]
    live.log_metric("loss", 2.0, step=1)
    live.flush()  # rewrites run.json: the active run is read again
    assert cached.frame().set_index("run_id").loc[live.id, "metrics.loss"] == 2.0
    live.finish()
    assert cached.frame().set_index("run_id").loc[live.id, "status"] == "FINISHED"
    _same(cached, store)

    store.delete_run(ids[1])
    _same(cached, store)
    compact(store, "exp")
    _same(cached, store)


def test_ended_runs_are_not_read_again(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once read, an ended run outside the summary costs nothing until a marker names it."""
    store = Store(store_path)
    for lr in (0.1, 0.2):
        _finished(store, lr)
    cached = ExperimentRuns(store, "exp")
    cached.frame()
    reads: list[str] = []
    original = records.read_record
    monkeypatch.setattr(records, "read_record", lambda d: reads.append(d.name) or original(d))
    version = cached.version
    cached.frame()
    assert reads == [] and cached.version == version


def test_an_unknown_experiment_is_named(store_path: Path) -> None:
    store = Store(store_path)
    _finished(store, 0.1)
    with pytest.raises(NotFound, match="did you mean exp"):
        RunsCache(store).frame("exq")
