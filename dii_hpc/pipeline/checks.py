"""Every stage's own config, validated before anything is submitted (exit 2, one line).

What a stage job would refuse hours later is refused at `pipeline submit`: the sweep config
(as `dii-hpc submit` reads it), the audit config and its suite or attack, the policy file,
model and alias names, drift options, resources; and what a stage reads from another stage
must be of the right kind (`select.from` a sweep, `model_from` a select or register stage).
The message is the library's own, prefixed with the stage name.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from dii_hpc.errors import BadInput, ConfigError
from dii_hpc.pipeline.spec import Pipeline, Stage, stage_error

#: A stage kind -> the kinds of stage it may read from (select.from, register.from, model_from).
READS = {"select": ("sweep",), "register": ("select",)}
MODEL_SOURCES = ("select", "register")


def check(pipeline: Pipeline) -> None:
    """Validate every stage; the first problem is one ConfigError naming its stage."""
    from dii_hpc.pipeline import graph

    graph.order({n: s.needs for n, s in pipeline.stages.items()})
    for stage in pipeline.stages.values():
        _references(pipeline, stage)
        try:
            _resources(stage)
            CHECKS[stage.kind](pipeline, stage)
        except ConfigError as err:
            if str(err).startswith(f"stage {stage.name}:"):
                raise
            raise stage_error(stage.name, str(err)) from err
        except BadInput as err:
            raise stage_error(stage.name, str(err)) from err


def _references(pipeline: Pipeline, stage: Stage) -> None:
    wanted = READS.get(stage.kind)
    source = stage.value.get("from") if wanted else None
    if source is not None and pipeline.stages[source].kind not in wanted:
        raise stage_error(stage.name, f"{stage.kind}.from: {source} is a "
                          f"{pipeline.stages[source].kind} stage, not a {' or '.join(wanted)} stage")
    model_from = stage.options.get("model_from")
    if model_from is not None and pipeline.stages[model_from].kind not in MODEL_SOURCES:
        raise stage_error(stage.name, f"model_from: {model_from} is a "
                          f"{pipeline.stages[model_from].kind} stage, not a select or register stage")


def _resources(stage: Stage) -> None:
    from pydantic import ValidationError

    from dii_hpc.config.schema import Resources

    if stage.kind == "sweep":
        return
    try:
        Resources.model_validate(stage.resources)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in ("resources", *first["loc"]))
        raise ConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from err


def _sweep(pipeline: Pipeline, stage: Stage) -> None:
    """As `dii-hpc submit` checks it: the config, its classes, the task table."""
    from dii_hpc.launch import plan
    from dii_hpc.pipeline import kinds

    loaded = kinds.load_sweep(stage)
    plan.task_table(loaded, plan.make_executor(loaded))


def _select(pipeline: Pipeline, stage: Stage) -> None:
    if not isinstance(stage.value["metric"], str):
        raise ConfigError(f"select.metric: a metric name, not {stage.value['metric']!r}")
    if stage.value.get("register"):
        from dii_hpc.registry import layout

        layout.check_name(str(stage.value["register"]))


def _register(pipeline: Pipeline, stage: Stage) -> None:
    from dii_hpc.registry import layout

    layout.check_name(str(stage.value["name"]))
    if stage.value.get("alias"):
        layout.check_alias(str(stage.value["alias"]))


def _policy(pipeline: Pipeline, stage: Stage) -> None:
    from dii_hpc.audit.engine import SUITES, known_attacks
    from dii_hpc.registry import layout, policy

    layout.check_name(str(stage.value["name"]))
    if stage.value.get("to"):
        layout.check_alias(str(stage.value["to"]))
    policy.load(stage.value["policy"], {"suite": list(SUITES), "attack": list(known_attacks())})


def _audit(pipeline: Pipeline, stage: Stage) -> None:
    from dii_hpc.audit.engine import SUITES, threat_of
    from dii_hpc.audit.placement import chain as slurm_chain
    from dii_hpc.pipeline import kinds

    suite = stage.options.get("suite")
    if suite is not None and suite not in SUITES:
        raise BadInput(f"suite: unknown suite {suite!r}; known suites: {', '.join(SUITES)}")
    if stage.options.get("attack"):
        threat_of(str(stage.options["attack"]))
    job = kinds.audit_job(stage, None)
    if slurm_chain.sharded(job):
        slurm_chain.task_count(job)  # attacks: a subset the suite has
    elif stage.options.get("shards"):
        slurm_chain.check(job)


def _profile(pipeline: Pipeline, stage: Stage) -> None:
    """The drift options, and the reference data and labels as the stage will open them (a
    file a stage makes is named under ``{work}`` and checked when that stage has run)."""
    from dii_hpc.drift.io import resolve_path
    from dii_hpc.drift.options import from_command_line
    from dii_hpc.pipeline.spec import PLACEHOLDERS

    from_command_line(stage.value.get("config"), {})
    for key in ("data", "labels"):
        text = stage.value.get(key)
        if isinstance(text, str) and not any(p in text for p in PLACEHOLDERS):
            try:
                resolve_path(text)
            except BadInput as err:
                raise ConfigError(f"profile.{key}: {err} (a file another stage makes is "
                                  "named under {work})") from err


def _predict(pipeline: Pipeline, stage: Stage) -> None:
    if not stage.options.get("model_from") and not stage.value.get("model"):
        raise ConfigError("predict: give predict.model or model_from: a select/register stage")


def _report(pipeline: Pipeline, stage: Stage) -> None:
    return None


def _command(pipeline: Pipeline, stage: Stage) -> None:
    if isinstance(stage.value, str):
        try:
            shlex.split(stage.value)
        except ValueError as err:
            raise ConfigError(f"command: {err}") from err
    if stage.options.get("each"):
        needs = [pipeline.stages[n] for n in stage.needs]
        tasks = stage.options.get("tasks", 1)
        if len(needs) != 1 or needs[0].kind not in ("sweep", "command"):
            raise ConfigError("each: true runs task i after task i of the ONE sweep or command "
                              "stage it needs")
        if needs[0].kind == "command" and needs[0].options.get("tasks", 1) != tasks:
            raise ConfigError(f"each: tasks: {tasks} but {needs[0].name} has "
                              f"{needs[0].options.get('tasks', 1)}")


CHECKS: dict[str, Callable[[Pipeline, Stage], Any]] = {
    "sweep": _sweep, "select": _select, "register": _register, "gate": _policy,
    "promote": _policy, "audit": _audit, "profile": _profile, "predict": _predict,
    "report": _report, "command": _command,
}
