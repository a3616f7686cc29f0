"""Histories for a chart: min/max per bucket keeps every spike; full and since are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import dii_hpc
from dii_hpc.store.store import Store
from dii_hpc.ui.series import minmax_indices, series


def test_buckets_keep_the_extremes_in_step_order() -> None:
    values = np.sin(np.arange(10_000) / 300.0)
    values[4321], values[7777] = 50.0, -50.0   # one-step spikes
    values[100:110] = np.nan                    # a gap
    picks = minmax_indices(values, 300)
    assert len(picks) <= 600 and np.all(np.diff(picks) > 0)
    assert {4321, 7777} <= set(picks.tolist())
    assert np.nanmax(values[picks]) == 50.0 and np.nanmin(values[picks]) == -50.0


def test_series_of_a_stored_run(store_path: Path) -> None:
    store = Store(store_path)
    with dii_hpc.start_run("exp", store=store) as run:
        for step in range(10_000):
            run.log_metric("loss", 9.0 if step == 5000 else 1.0 / (1 + step), step=step)
    thin = series(store, run.id, "loss", width=200)
    assert thin.downsampled and thin.count == 10_000 and len(thin.steps) <= 400
    assert max(thin.values) == 9.0 and thin.last_step == 9999
    full = series(store, run.id, "loss", full=True)
    assert not full.downsampled and full.steps == list(range(10_000))
    assert full.times is not None and len(full.times) == 10_000
    tail = series(store, run.id, "loss", since=9989)
    assert tail.steps == list(range(9990, 10_000)) and tail.count == 10
