"""What the report reads from a store: the StoreReader seam and the run loaders."""

from __future__ import annotations

import inspect
from pathlib import Path

from dii_hpc.report import source
from dii_hpc.store.store import Store
from dii_hpc.tracking.run import start_run


def _members(proto: type) -> list[str]:
    return [n for n in vars(proto) if not n.startswith("_")]


def test_store_has_every_member_of_store_reader_with_its_parameters() -> None:
    members = _members(source.StoreReader)
    assert {"root", "run_ids", "metric_array"} <= set(members)
    store = Store("/nonexistent-dii-store")  # building a Store writes nothing
    for name in members:
        assert hasattr(store, name), f"Store has no {name}, which the report reads"
        wanted = getattr(source.StoreReader, name)
        if callable(wanted):
            got = inspect.signature(getattr(Store, name)).parameters
            assert list(got) == list(inspect.signature(wanted).parameters), name


def test_histories_and_runs_come_from_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with start_run("exp", store=store) as run:
        run.log_metric("loss", 1.0)
        run.log_metric("loss", 0.5)
        run.log_metric("acc", 0.9, step=7)
    assert source.run_ids(store, "exp") == [run.id]
    entry = source.load_run(store, run.id)
    assert entry.record["status"] == "FINISHED" and len(entry.fingerprint) == 20
    assert source.histories(store, entry) == {"loss": ([0.0, 1.0], [1.0, 0.5]),
                                              "acc": ([7.0], [0.9])}
    entry.record["metrics"] = {}  # no summary: the metric folders are walked for the keys
    assert set(source.histories(store, entry)) == {"loss", "acc"}
