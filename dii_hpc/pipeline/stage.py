"""The body of a stage's job: do the stage's work through the library, record the outcome.

    python -m dii_hpc.pipeline.stage PIPELINE_ID STAGE [TASK]   # the store from $DII_HPC_STORE

Slurm runs the same thing through submitit (`StageJob`, `TaskJob` are what it pickles). The
job marks its stage RUNNING, settles the array stages it needs (a stage with no job of its
own, `StageKind.settle`: a sweep that let it start has finished, Slurm's afterok says so),
runs its kind's body (`StageKind.run`), then writes FINISHED with the outputs and saves them
under the stage's key (`cache`); an exception writes FAILED with its one-line message and
fails the job, so that Slurm cancels what needs the stage. An array task runs the kind's
`StageKind.task` with its index.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import InfraError
from dii_hpc.pipeline import cache
from dii_hpc.pipeline.context import Context
from dii_hpc.pipeline.kind import STAGE_KINDS
from dii_hpc.pipeline.spec import Pipeline
from dii_hpc.records import pipeline as records
from dii_hpc.records.pipeline import CachedOutcome, PipelineRecord

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


def _context(store_root: str, pipeline_id: str, name: str, task: int | None = None
             ) -> tuple[Context, PipelineRecord]:
    from dii_hpc.store.store import Store

    record = records.read_pipeline(store_root, pipeline_id)
    pipeline = Pipeline.from_dict(record.spec)
    return Context(Store(store_root), record.id, pipeline, pipeline.stages[name], task), record


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__


def finish(store: Store, pipeline_id: str, name: str, key: str, outputs: dict[str, Any],
           runs: list[str]) -> None:
    """Record a stage FINISHED and keep its outcome under its key."""
    records.write_stage(store.root, pipeline_id, name, state=vocab.FINISHED, outputs=outputs,
                        runs=runs, error=None, end_time=time.time())
    cache.save(store.root, key, CachedOutcome(outputs=outputs, runs=runs, pipeline=pipeline_id,
                                              stage=name, finished=time.time()))


def settle(store: Store, record: PipelineRecord, name: str) -> str:
    """State of a stage with no job of its own (an array) once its jobs have ended, written
    to its record (`StageKind.settle`); FINISHED saves its outcome like any stage's."""
    current = records.read_stage(store.root, record.id, name)
    if current.state in vocab.TERMINAL:
        return str(current.state)
    kind = STAGE_KINDS.get(str(record.kind_of(name)))
    assert kind.settle is not None
    status, error, outputs = kind.settle(store, current.outputs or {})
    if status == vocab.FINISHED:
        finish(store, record.id, name, record.keys[name], outputs,
               list(outputs.get("runs") or []))
    else:
        records.write_stage(store.root, record.id, name, state=status, error=error,
                            end_time=time.time())
    return status


def run_stage(store_root: str, pipeline_id: str, name: str) -> dict[str, Any]:
    """Run one stage here; see the module docstring."""
    ctx, record = _context(store_root, pipeline_id, name)
    root, pid = ctx.store.root, record.id
    started = records.write_stage(root, pid, name, state=vocab.RUNNING, start_time=time.time(),
                                  host=socket.gethostname(),
                                  slurm_job_id=os.environ.get("SLURM_JOB_ID"), error=None)
    if started.state == vocab.CANCELLED:  # `pipeline cancel` came first
        return {}
    kind = STAGE_KINDS.get(ctx.stage.kind)
    try:
        for need in ctx.stage.needs:
            if STAGE_KINDS.get(ctx.pipeline.stages[need].kind).settle is not None:
                settle(ctx.store, record, need)
        unmet = _unmet(ctx)
        if unmet is None:
            assert kind.run is not None
            outputs, runs = kind.run(ctx)
    except Exception as err:
        records.write_stage(root, pid, name, state=vocab.FAILED, error=one_line(err),
                            end_time=time.time())
        raise
    except BaseException:
        records.write_stage(root, pid, name, state=vocab.KILLED, end_time=time.time(),
                            error="interrupted")
        raise
    if unmet is not None:  # an array it needs ended badly (a study's workers exit 0 anyway)
        records.write_stage(root, pid, name, state=vocab.CANCELLED, error=unmet,
                            end_time=time.time())
        raise InfraError(unmet)  # the job fails: Slurm cancels what needs this stage
    finish(ctx.store, pid, name, record.keys[name], outputs, runs)
    return outputs


def _unmet(ctx: Context) -> str | None:
    """Why the stage cannot run once its needs are settled (a need that did not finish)."""
    from dii_hpc.pipeline.graph import reason

    recs = records.stages(ctx.store.root, ctx.pipeline_id, list(ctx.stage.needs))
    if all(r.state == vocab.FINISHED for r in recs.values()):
        return None
    return reason(ctx.needs, recs, ctx.stage.name) or "a stage it needs did not finish"


def run_task(store_root: str, pipeline_id: str, name: str, index: int) -> dict[str, Any]:
    """Task ``index`` of an array stage (`StageKind.task`: an audit shard, a command task)."""
    ctx, _ = _context(store_root, pipeline_id, name, index)
    body = STAGE_KINDS.get(ctx.stage.kind).task
    if body is None:
        raise InfraError(f"stage {name}: a {ctx.stage.kind} stage has no array tasks")
    return body(ctx)[0]


class StageJob:
    """What submitit pickles for a stage's job (a plain class: pickled by reference)."""

    def __init__(self, store_root: str | Path, pipeline_id: str, stage: str) -> None:
        self.args = (str(store_root), pipeline_id, stage)

    def __call__(self) -> dict[str, Any]:
        from dii_hpc import distributed

        if distributed.rank() != 0:
            return {}
        return run_stage(*self.args)


class TaskJob:
    """What submitit pickles for the tasks of an array stage (called with the index)."""

    def __init__(self, store_root: str | Path, pipeline_id: str, stage: str) -> None:
        self.args = (str(store_root), pipeline_id, stage)

    def __call__(self, index: int) -> dict[str, Any]:
        from dii_hpc import distributed

        if distributed.rank() != 0:
            return {}
        return run_task(*self.args, index)


def main(argv: list[str] | None = None) -> int:
    """``python -m dii_hpc.pipeline.stage PIPELINE_ID STAGE [TASK]``: exit 0 when it finished,
    else the error's exit code (1 a check failed, 2 bad input, 3 infrastructure)."""
    from dii_hpc.errors import DiiError
    from dii_hpc.store.store import Store

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m dii_hpc.pipeline.stage PIPELINE_ID STAGE [TASK]", file=sys.stderr)
        return 2
    root = str(Store().root)
    try:
        pid = records.resolve_id(root, args[0])
        if len(args) == 3:
            run_task(root, pid, args[1], int(args[2]))
        else:
            run_stage(root, pid, args[1])
    except DiiError as err:
        if os.environ.get("DII_HPC_DEBUG") == "1":
            raise
        print(f"dii-hpc: error: {one_line(err)}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
