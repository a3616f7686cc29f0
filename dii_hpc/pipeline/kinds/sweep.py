"""``sweep: CONFIG``: a training sweep (grid or adaptive) as `dii-hpc submit` runs it.

The stage has no job of its own: its work is the sweep's array (`launch.submit`), held by
the stage's dependency, and its state is settled from its runs once the array ended (an
adaptive sweep's runs are its study's trials, made by the workers after submit: they join
the outputs, and it FINISHED when the study has its trials and one completed; a pruned or
failed trial is a result of the search). ``set:`` overrides keys of the config.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import RootModel, field_validator

from dii_hpc import vocabulary as vocab
from dii_hpc.pipeline.kind import ConfigPath, Launching, Queued, Settled, StageConfig, StageKind

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.config import LoadedConfig
    from dii_hpc.pipeline.spec import Pipeline, Stage
    from dii_hpc.store.store import Store


class SweepConfig(RootModel[ConfigPath]):
    """The sweep config's path."""


class SweepOptions(StageConfig):
    set: dict[str, Any] = {}  # KEY: VALUE, as `dii-hpc submit --set KEY=VALUE`

    @field_validator("resources", check_fields=False)
    @classmethod
    def _no_resources(cls, value: Any) -> Any:
        raise ValueError("a sweep's resources are its config's (resources: there)")


def load(stage: Stage) -> LoadedConfig:
    """The sweep config as `dii-hpc submit` reads it, with the stage's `set:` overrides."""
    import json

    from dii_hpc.config import load_config

    options = SweepOptions.model_validate(stage.options)
    overrides = [f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                 for k, v in options.set.items()]
    return load_config(stage.value, overrides)


def check(pipeline: Pipeline, stage: Stage) -> None:
    """As `dii-hpc submit` checks it: the config, its classes, the task table."""
    from dii_hpc.launch import plan

    loaded = load(stage)
    plan.task_table(loaded, plan.make_executor(loaded))


def launch(job: Launching) -> Queued:
    """On Slurm: the sweep's arrays, held by the stage's dependency. Here: the sweep run to
    its end, then the stage settled from its runs."""
    from dii_hpc.launch import submit as sweep

    if job.executor == "slurm":
        res = sweep.submit(load(job.stage), job.store, "slurm", dependency=job.dependency,
                           slurm_conf=job.conf)
        job.write(jobs=res.arrays, runs=res.run_ids, outputs=_outputs(res))
        return Queued(res.arrays, res.arrays, res.arrays[0] if len(res.arrays) == 1 else None)
    from dii_hpc.pipeline import stage as stagejob

    try:
        res = sweep.submit(load(job.stage), job.store, "local")
    except Exception as err:  # noqa: BLE001 - recorded; the stages after it are cancelled
        job.write(state=vocab.FAILED, error=stagejob.one_line(err), end_time=time.time())
        return Queued([], [])
    job.write(state=vocab.RUNNING, outputs=_outputs(res), runs=res.run_ids,
              start_time=time.time())
    sweep.finish_here("local", res.submission_id)
    from dii_hpc.launch.status import reconcile

    reconcile(job.store, res.experiment, use_sacct=False)
    stagejob.settle(job.store, job.record, job.stage.name)
    return Queued([], [])


def _outputs(res: Any) -> dict[str, Any]:
    return {"experiment": res.experiment, "runs": res.run_ids, "submission": res.submission_id}


def settle(store: Store, outputs: dict[str, Any]) -> Settled:
    """FINISHED when every run finished (a study: see the module docstring)."""
    from dii_hpc.launch.optimize import workers as adaptive

    experiment = outputs.get("experiment") or ""
    if adaptive.of_submission(store, experiment, outputs.get("submission")):
        return _study(store, experiment, outputs)
    for rid in outputs.get("runs") or []:
        record = store.run(rid)
        if record.get("status") != vocab.FINISHED:
            status = record.get("status") or vocab.FAILED
            why = f": {record['error']}" if record.get("error") else ""
            return (status if status in vocab.UNSUCCESSFUL else vocab.FAILED,
                    f"run {rid} {status}{why}", outputs)
    return vocab.FINISHED, None, outputs


def _study(store: Store, experiment: str, outputs: dict[str, Any]) -> Settled:
    from dii_hpc.errors import DiiError, one_line
    from dii_hpc.launch.optimize import workers as adaptive

    outputs = {**outputs, "runs": adaptive.trial_runs(store, experiment)}
    try:
        adaptive.outcome(store, experiment)
    except DiiError as err:
        return vocab.FAILED, one_line(err), outputs
    if not any(store.run(rid).get("status") == vocab.FINISHED for rid in outputs["runs"]):
        return vocab.FAILED, f"no trial of the study of {experiment} completed", outputs
    return vocab.FINISHED, None, outputs


SWEEP = StageKind(
    name="sweep", doc="train: a sweep config (grid or adaptive), as `dii-hpc submit` runs it",
    config=SweepConfig, options=SweepOptions, check=check, launch=launch, settle=settle,
    gives=frozenset({"runs", "tasks"}))
