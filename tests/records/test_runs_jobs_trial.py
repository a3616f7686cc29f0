"""records.runs (the one "best run by metric"), records.jobs and records.trial: the formats
launch, pipeline and the CLI share, read and written in one place (#27 item 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dii_hpc.records import jobs, trial
from dii_hpc.records.runs import best
from dii_hpc.store.store import Store


def _rec(rid: str, status: str, last: Any) -> dict[str, Any]:
    return {"run_id": rid, "status": status, "metrics": {"acc": {"last": last}}}


def test_best_takes_finished_runs_with_a_finite_value() -> None:
    runs = [_rec("A", "FINISHED", 0.5), _rec("B", "FAILED", 0.9), _rec("C", "FINISHED", float("nan")),
            _rec("D", "FINISHED", 0.7), _rec("E", "FINISHED", True), _rec("F", "FINISHED", 0.7)]
    assert best(runs, "acc", "max") == ("D", 0.7)  # the first of a tie
    assert best(runs, "acc", "min") == ("A", 0.5)
    assert best(runs, "loss") is None and best([], "acc") is None


def test_job_records_round_trip_oldest_first_and_skip_unreadable(store_path: Path) -> None:
    store = Store(store_path)
    jobs.write(store, "late", jobs.JobRecord(runs={"R1": "12_0"}, arrays=["12"], submitted=2.0))
    jobs.write(store, "early", jobs.JobRecord(runs={"R1": "11_0"}, workers={"0": "13"},
                                              submitted=1.0, executor="slurm"))
    jobs.path(store, "broken").write_text("{not json")
    assert [name for name, _ in jobs.every(store)] == ["early", "late"]
    early = jobs.read(store, "early")
    assert early is not None and early.workers == {"0": "13"} and early.executor == "slurm"
    assert jobs.read(store, "broken") is None and jobs.read(store, "absent") is None


def test_trial_section_is_written_then_ended(store_path: Path) -> None:
    import dii_hpc

    with dii_hpc.start_run("study") as run:
        trial.write(run, trial.TrialSection(number=3, metric="acc", direction="maximize",
                                            worker="S/0", space={"lr": "log_uniform"}))
        assert "state" not in run.record["trial"]  # running: no state yet
        trial.end(run, state="COMPLETE", value=0.8)
    section = trial.of(Store(store_path).run(run.id))
    assert section is not None and (section.number, section.state, section.value) == (3, "COMPLETE", 0.8)
    assert trial.of({"trial": {"number": "x"}}) is None and trial.of({}) is None
