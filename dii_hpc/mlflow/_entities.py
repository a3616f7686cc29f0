"""The objects MLflow's fluent API hands back (ActiveRun, Run, RunInfo, RunData, Experiment),
shaped from dii-hpc run records so that code reading ``run.info.run_id`` or
``run.data.params`` keeps working. Experiments are named, not numbered, in dii-hpc: an
experiment's id is its name. Times are milliseconds, as in MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dii_hpc import vocabulary as vocab

#: dii-hpc status -> the nearest of MLflow's five run statuses.
TO_MLFLOW_STATUS = {vocab.RUNNING: "RUNNING", vocab.PENDING: "SCHEDULED",
                    vocab.FINISHED: "FINISHED", vocab.FAILED: "FAILED",
                    vocab.OUT_OF_MEMORY: "FAILED", vocab.NODE_FAIL: "FAILED",
                    vocab.TIMEOUT: "FAILED", vocab.KILLED: "KILLED",
                    vocab.CANCELLED: "KILLED", vocab.PREEMPTED: "KILLED"}
#: MLflow status -> dii-hpc status.
FROM_MLFLOW_STATUS = {"RUNNING": vocab.RUNNING, "SCHEDULED": vocab.PENDING,
                      "FINISHED": vocab.FINISHED, "FAILED": vocab.FAILED, "KILLED": vocab.KILLED}


#: Tracking URIs without a scheme that MLflow reads as services, not folders.
SERVICE_NAMES = ("databricks", "databricks-uc")


def is_mlruns(path: Any) -> bool:
    """Whether ``path`` is an MLflow file store: experiment folders, each with a meta.yaml."""
    from pathlib import Path

    folder = Path(path)
    return folder.is_dir() and any((child / "meta.yaml").is_file() for child in folder.iterdir()
                                   if child.is_dir())


def millis(seconds: Any) -> int | None:
    return None if seconds is None else int(round(float(seconds) * 1000))


def param_text(value: Any) -> str:
    """A param as MLflow stores it: its ``str()``."""
    return str(value)


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str | None
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = "active"
    user_id: str = ""

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class RunData:
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


@dataclass
class Run:
    info: RunInfo
    data: RunData

    @classmethod
    def from_record(cls, record: dict[str, Any], store_root: Any) -> Run:
        from dii_hpc.store.records import flatten

        row = flatten(record)
        tags = {k[5:]: str(v) for k, v in row.items() if k.startswith("tags.")}
        info = RunInfo(
            run_id=record["run_id"], experiment_id=record["experiment"],
            run_name=tags.get("mlflow.runName") or tags.get("name"),
            status=TO_MLFLOW_STATUS.get(record.get("status") or "", "FINISHED"),
            start_time=millis(record.get("start_time")), end_time=millis(record.get("end_time")),
            artifact_uri=artifact_uri(store_root, record), user_id=tags.get("mlflow.user", ""))
        data = RunData(
            params={k[7:]: param_text(v) for k, v in row.items() if k.startswith("params.")},
            metrics={k[8:]: v for k, v in row.items() if k.startswith("metrics.")}, tags=tags)
        return cls(info, data)


def artifact_uri(store_root: Any, record: dict[str, Any]) -> str:
    """Where the run's artifacts are indexed (blobs themselves are shared, content-addressed)."""
    from pathlib import Path

    from dii_hpc.store.records import run_path

    return run_path(Path(store_root), record["experiment"], record["run_id"]).as_uri()


class ActiveRun(Run):
    """What ``start_run`` returns: a Run that ends itself when its ``with`` block does."""

    def __init__(self, run: Any, info: RunInfo, end: Callable[..., None]) -> None:
        super().__init__(info, RunData({}, {}, {}))
        self._run = run  # the dii_hpc.tracking Run that writes
        self._end = end

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._end("FINISHED" if exc_type is None else "FAILED", self)
        return exc_type is None
