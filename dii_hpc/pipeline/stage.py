"""The body of a stage's job: do the stage's work through the library, record the outcome.

    python -m dii_hpc.pipeline.stage PIPELINE_ID STAGE      # the store from $DII_HPC_STORE

Slurm runs the same thing through submitit (`StageJob`, `TaskJob` are what it pickles). The
job marks its stage RUNNING, settles the array stages it needs (a sweep that let it start
has finished: Slurm's afterok says so), runs the kind's body (`kinds.BODIES`), then writes
FINISHED with the outputs and saves them under the stage's key (`cache`); an exception
writes FAILED with its one-line message and fails the job, so that Slurm cancels what needs
the stage.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import InfraError
from dii_hpc.pipeline import cache, kinds, state
from dii_hpc.pipeline.spec import Pipeline

ARRAY_KINDS = ("sweep", "command")


def _context(store_root: str, pipeline_id: str, name: str, task: int | None = None
             ) -> tuple[kinds.Context, dict[str, Any]]:
    from dii_hpc.store.store import Store

    record = state.read_pipeline(store_root, pipeline_id)
    pipeline = Pipeline.from_dict(record["spec"])
    return kinds.Context(Store(store_root), pipeline_id, pipeline, pipeline.stages[name],
                         task), record


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__


def finish(ctx: kinds.Context, key: str, outputs: dict[str, Any], runs: list[str],
           **extra: Any) -> None:
    """Record a stage FINISHED and keep its outcome under its key."""
    root = ctx.store.root
    state.write_stage(root, ctx.pipeline_id, ctx.stage.name, state=vocab.FINISHED,
                      outputs=outputs, runs=runs, error=None, end_time=time.time(), **extra)
    cache.save(root, key, {"outputs": outputs, "runs": runs, "pipeline": ctx.pipeline_id,
                           "stage": ctx.stage.name, "finished": time.time()})


def settle_array(ctx: kinds.Context, name: str, key: str) -> str:
    """State of an array stage (a sweep, a command with tasks) once its jobs have ended,
    written to its record; FINISHED saves its outcome like any stage's."""
    record = state.read_stage(ctx.store.root, ctx.pipeline_id, name)
    if record.get("state") in vocab.TERMINAL:
        return record["state"]
    sub = kinds.Context(ctx.store, ctx.pipeline_id, ctx.pipeline, ctx.pipeline.stages[name])
    outputs = record.get("outputs") or {}
    status, error, outputs = (kinds.sweep_outcome(ctx.store, outputs) if sub.stage.kind == "sweep"
                              else (vocab.FINISHED, None, outputs))
    if status == vocab.FINISHED:
        finish(sub, key, outputs, list(outputs.get("runs") or []))
    else:
        state.write_stage(ctx.store.root, ctx.pipeline_id, name, state=status, error=error,
                          end_time=time.time())
    return status


def run_stage(store_root: str, pipeline_id: str, name: str) -> dict[str, Any]:
    """Run one stage here; see the module docstring."""
    ctx, record = _context(store_root, pipeline_id, name)
    root = ctx.store.root
    started = state.write_stage(root, pipeline_id, name, state=vocab.RUNNING,
                                start_time=time.time(), host=socket.gethostname(),
                                slurm_job_id=os.environ.get("SLURM_JOB_ID"), error=None)
    if started["state"] == vocab.CANCELLED:  # `pipeline cancel` came first
        return {}
    try:
        for need in ctx.stage.needs:
            if ctx.pipeline.stages[need].kind in ARRAY_KINDS:
                settle_array(ctx, need, record["keys"][need])
        unmet = _unmet(ctx)
        if unmet is None:
            outputs, runs = kinds.BODIES[ctx.stage.kind](ctx)
    except Exception as err:
        state.write_stage(root, pipeline_id, name, state=vocab.FAILED, error=one_line(err),
                          end_time=time.time())
        raise
    except BaseException:
        state.write_stage(root, pipeline_id, name, state=vocab.KILLED, end_time=time.time(),
                          error="interrupted")
        raise
    if unmet is not None:  # an array it needs ended badly (a study's workers exit 0 anyway)
        state.write_stage(root, pipeline_id, name, state=vocab.CANCELLED, error=unmet,
                          end_time=time.time())
        raise InfraError(unmet)  # the job fails: Slurm cancels what needs this stage
    finish(ctx, record["keys"][name], outputs, runs)
    return outputs


def _unmet(ctx: kinds.Context) -> str | None:
    """Why the stage cannot run once its needs are settled (a need that did not finish)."""
    from dii_hpc.pipeline.status import reason

    recs = state.stages(ctx.store.root, ctx.pipeline_id, list(ctx.stage.needs))
    if all(r.get("state") == vocab.FINISHED for r in recs.values()):
        return None
    return reason(ctx.needs, recs, ctx.stage.name) or "a stage it needs did not finish"


def run_task(store_root: str, pipeline_id: str, name: str, index: int) -> dict[str, Any]:
    """One task of an array stage: an audit shard, or a command's task ``index``."""
    ctx, _ = _context(store_root, pipeline_id, name, index)
    body = kinds.audit_shard if ctx.stage.kind == "audit" else kinds.command
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
        pid = state.resolve_id(root, args[0])
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
