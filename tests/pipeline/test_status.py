"""Stage states from records: combining job states, and stages that cannot run any more."""

from __future__ import annotations

from pathlib import Path

from dii_hpc.pipeline import spec, status
from dii_hpc.records import pipeline as records
from dii_hpc.store.store import Store


def test_combine_puts_a_failure_first_then_cancelled_then_what_moves() -> None:
    assert status.combine(["FINISHED", "FAILED", "RUNNING"]) == "FAILED"
    assert status.combine(["FINISHED", "CANCELLED"]) == "CANCELLED"
    assert status.combine(["FINISHED", "PENDING"]) == "RUNNING"  # an array half done
    assert status.combine(["PENDING", "PENDING"]) == "PENDING"
    assert status.combine(["FINISHED", "FINISHED"]) == "FINISHED"
    assert status.combine(["TIMEOUT", "FINISHED"]) == "TIMEOUT"
    assert status.overall(["FAILED", "RUNNING"]) == "RUNNING"  # a pipeline still under way
    assert status.overall(["FINISHED", "FAILED", "CANCELLED"]) == "FAILED"


def test_stages_below_a_failure_are_recorded_cancelled_with_the_reason(store_path: Path) -> None:
    store = Store(store_path)
    p = spec.parse({"pipeline": "p", "stages": {
        "a": {"command": "true"}, "b": {"command": "true", "needs": ["a"]},
        "c": {"command": "true", "needs": ["b"]}, "d": {"command": "true"}}}, "p.yaml")
    order = ["a", "b", "c", "d"]
    records.write_pipeline(store.root, records.PipelineRecord(
        id="01TEST", name="p", executor="local", spec=p.to_dict(), order=order))
    records.write_stage(store.root, "01TEST", "a", state="FAILED", error="boom")
    records.write_stage(store.root, "01TEST", "b", state="PENDING")
    records.write_stage(store.root, "01TEST", "d", state="FINISHED")
    view = status.status(store, "01TEST")
    assert view["state"] == "FAILED"
    assert {n: s["state"] for n, s in view["stages"].items()} == \
        {"a": "FAILED", "b": "CANCELLED", "c": "CANCELLED", "d": "FINISHED"}
    assert view["stages"]["c"]["error"] == "needs a, which FAILED: boom"
    assert records.read_stage(store.root, "01TEST", "b").error == "needs a, which FAILED: boom"
