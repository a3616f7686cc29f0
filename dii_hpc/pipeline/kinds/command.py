"""``command: LINE`` (or a list of arguments): any program, e.g. a data step or a check.

It runs in the folder `pipeline submit` ran in (`Places.cwd`), so its relative arguments
name files there, and its key hashes them there; ``python`` is resolved as for `dii-hpc run`
(`runcmd.command_env`). ``tasks: N`` makes it an array of N tasks (``{task}`` in its
arguments is the index) that is the whole stage; ``each: true`` starts task i after task i
of the ONE array stage it needs (Slurm's ``aftercorr``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, RootModel, StrictBool, field_validator

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import ConfigError, InfraError
from dii_hpc.pipeline.context import Context
from dii_hpc.pipeline.kind import (
    STAGE_KINDS,
    Outcome,
    Plan,
    Settled,
    StageConfig,
    StageKind,
    givers,
)
from dii_hpc.pipeline.spec import command_argv

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.pipeline.spec import Pipeline, Places, Stage
    from dii_hpc.store.store import Store


def _line(value: Any) -> Any:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise ValueError("a command line or a list of arguments")


CommandText = Annotated[str | list[str], BeforeValidator(_line)]


class CommandLine(RootModel[CommandText]):
    """A command line (split as a shell does) or its arguments."""


class CommandOptions(StageConfig):
    tasks: int = 1
    each: StrictBool = False

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"a positive integer, not {value!r}")
        return value


def check(pipeline: Pipeline, stage: Stage) -> None:
    if isinstance(stage.value, str):
        try:
            shlex.split(stage.value)
        except ValueError as err:
            raise ConfigError(f"command: {err}") from err
    options = CommandOptions.model_validate(stage.options)
    if options.each:
        needs = [pipeline.stages[n] for n in stage.needs]
        if len(needs) != 1 or "tasks" not in STAGE_KINDS.get(needs[0].kind).gives:
            raise ConfigError("each: true runs task i after task i of the ONE "
                              f"{' or '.join(givers('tasks'))} stage it needs")
        if needs[0].kind == stage.kind:
            theirs = CommandOptions.model_validate(needs[0].options).tasks
            if theirs != options.tasks:
                raise ConfigError(f"each: tasks: {options.tasks} but {needs[0].name} has {theirs}")


def plan(stage: Stage) -> Plan:
    """``tasks: N`` > 1: an array that is the whole stage."""
    options = CommandOptions.model_validate(stage.options)
    if options.tasks > 1:
        return Plan(tasks=options.tasks, job=False, each=options.each)
    return Plan(each=options.each)


def run(ctx: Context) -> Outcome:
    """The command (or task ``ctx.task`` of the array) in the submit folder."""
    from dii_hpc.launch.runcmd import command_env

    argv = [ctx.fill(a) for a in command_argv(ctx.stage.value)]
    env = command_env({**os.environ, "DII_HPC_STORE": str(ctx.store.root),
                       "DII_HPC_PIPELINE": ctx.pipeline_id, "DII_HPC_STAGE": ctx.stage.name})
    env.pop("DII_HPC_RUN_ID", None)
    try:
        code = subprocess.run(argv, env=env, cwd=ctx.pipeline.places(ctx.store.root).cwd,
                              check=False).returncode
    except OSError as err:
        raise InfraError(f"command {argv[0]!r} could not start: {err}") from err
    if code != 0:
        raise InfraError(f"command `{shlex.join(argv)}` exited with code {code}")
    return {"exit_code": code}, []


def settle(store: Store, outputs: dict[str, Any]) -> Settled:
    """An array whose tasks all ended FINISHED (Slurm said so) finished."""
    return vocab.FINISHED, None, outputs


def arguments(stage: Stage, places: Places) -> list[Path]:
    """The files its arguments may name, in the folder it runs in: every argument but the
    program found on PATH, and the value of ``--opt=VALUE``."""
    argv = command_argv(stage.value)
    out = argv[1:] + ([argv[0]] if argv and os.sep in argv[0] else [])
    texts = out + [a.split("=", 1)[1] for a in out if a.startswith("-") and "=" in a]
    return [places.path(t) for t in texts
            if not any(p in t for p in ("{work}", "{store}", "{task}")) and len(t) <= 4096
            and "\n" not in t]


COMMAND = StageKind(
    name="command", doc="a program run in the submit folder (tasks: N makes it an array)",
    config=CommandLine, options=CommandOptions, check=check, plan=plan, run=run, task=run,
    settle=settle, gives=frozenset({"tasks"}), reads=arguments, in_cwd=True)
