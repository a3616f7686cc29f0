"""What each stage kind does in its job, through the library's own entry points.

A body takes the stage's `Context` and returns ``(outputs, runs)``: a small mapping later
stages read (the selected run, the registered version, an audit run, ...) and the run ids it
made (the report links them). A body that fails raises; its job then fails and Slurm cancels
what needs it. The sweep's own work is its array (`launch.submit`); `sweep_outcome` tells
from its runs (an adaptive sweep's: its trials') whether it finished.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dii_hpc import vocabulary as vocab
from dii_hpc.errors import CheckFailed, InfraError
from dii_hpc.pipeline import graph, state
from dii_hpc.pipeline.spec import Pipeline, Stage, command_argv

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob
    from dii_hpc.config import LoadedConfig
    from dii_hpc.store.store import Store

Outcome = tuple[dict[str, Any], list[str]]
PLACEHOLDER_MODEL = "pipeline:model_from"  # what validation puts where model_from will go


@dataclass
class Context:
    store: Store
    pipeline_id: str
    pipeline: Pipeline
    stage: Stage
    task: int | None = None  # array task index (audit shards, command tasks)

    @property
    def needs(self) -> dict[str, tuple[str, ...]]:
        return {n: s.needs for n, s in self.pipeline.stages.items()}

    def fill(self, text: str) -> str:
        """``text`` with its placeholders filled as the stage's key filled them."""
        places = self.pipeline.places(self.store.root)
        places.work.mkdir(parents=True, exist_ok=True)
        return places.fill(text, self.task)

    def output(self, stage: str) -> dict[str, Any]:
        record = state.read_stage(self.store.root, self.pipeline_id, stage)
        if record.get("outputs") is None:
            raise InfraError(f"stage {self.stage.name}: stage {stage} has no outcome yet "
                             f"(state {record.get('state')})")
        return record["outputs"]


def load_sweep(stage: Stage) -> LoadedConfig:
    """The sweep config as `dii-hpc submit` reads it, with the stage's `set:` overrides."""
    from dii_hpc.config import load_config

    overrides = [f"{k}={_yaml(v)}" for k, v in (stage.options.get("set") or {}).items()]
    return load_config(stage.value, overrides)


def _yaml(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def sweep_outcome(store: Store, outputs: dict[str, Any]
                  ) -> tuple[str, str | None, dict[str, Any]]:
    """(state, error, outputs) of a sweep once its jobs ended, from its runs: FINISHED when
    every run finished.  An adaptive sweep's runs are its study's trials, made by the
    workers as they went: they join the outputs, and it FINISHED when the study has its
    trials and one of them completed (a pruned or failed trial is a result of the search)."""
    from dii_hpc.launch import adaptive

    experiment = outputs.get("experiment") or ""
    if adaptive.of_submission(store, experiment, outputs.get("submission")):
        return _study_outcome(store, experiment, outputs)
    return (*_runs_outcome(store, outputs.get("runs") or []), outputs)


def _study_outcome(store: Store, experiment: str, outputs: dict[str, Any]
                   ) -> tuple[str, str | None, dict[str, Any]]:
    from dii_hpc.errors import DiiError, one_line
    from dii_hpc.launch import adaptive

    outputs = {**outputs, "runs": adaptive.trial_runs(store, experiment)}
    try:
        adaptive.outcome(store, experiment)
    except DiiError as err:
        return vocab.FAILED, one_line(err), outputs
    if not any(store.run(rid).get("status") == vocab.FINISHED for rid in outputs["runs"]):
        return vocab.FAILED, f"no trial of the study of {experiment} completed", outputs
    return vocab.FINISHED, None, outputs


def _runs_outcome(store: Store, runs: list[str]) -> tuple[str, str | None]:
    for rid in runs:
        record = store.run(rid)
        if record.get("status") != vocab.FINISHED:
            status = record.get("status") or vocab.FAILED
            why = f": {record['error']}" if record.get("error") else ""
            return (status if status in vocab.UNSUCCESSFUL else vocab.FAILED,
                    f"run {rid} {status}{why}")
    return vocab.FINISHED, None


# ------------------------------------------------------------------ models between stages
def _model_name(ctx: Context) -> str | None:
    """The model a select stage registers its run as: its `register:`, else the one name the
    gate/promote stages after it use (a register stage reading it registers instead)."""
    stage = ctx.stage
    if stage.value.get("register"):
        return str(stage.value["register"])
    below = [ctx.pipeline.stages[n] for n in graph.descendants(ctx.needs, [stage.name])]
    if any(s.kind == "register" and s.value.get("from") == stage.name for s in below):
        return None
    names = {str(s.value["name"]) for s in below if s.kind in ("gate", "promote")}
    return names.pop() if len(names) == 1 else None


def model_of(ctx: Context, source: str) -> Any:
    """What ``model_from: source`` puts in a config: the registered version's URI, else the
    selected run's weights through its loader (as `models register` would record it)."""
    out = ctx.output(source)
    if out.get("model"):
        return out["model"]
    from dii_hpc.registry import lineage, uri

    return uri.factory_spec(lineage.from_run(ctx.store, out["run_id"]), ctx.store.root)


def version_of(ctx: Context, name: str) -> int:
    """The version of ``name`` an upstream stage registered, else the latest one."""
    for stage in graph.ancestors(ctx.needs, ctx.stage.name):
        out = state.read_stage(ctx.store.root, ctx.pipeline_id, stage).get("outputs") or {}
        if out.get("name") == name and out.get("version"):
            return int(out["version"])
    from dii_hpc.registry.registry import Registry

    return int(Registry(ctx.store).resolve(name)["version"])


# ------------------------------------------------------------------ bodies
def select(ctx: Context) -> Outcome:
    spec = ctx.stage.value
    metric, best = str(spec["metric"]), None
    for rid in ctx.output(spec["from"]).get("runs") or []:
        record = ctx.store.run(rid)
        value = ((record.get("metrics") or {}).get(metric) or {}).get("last")
        if record.get("status") != vocab.FINISHED or not isinstance(value, (int, float)):
            continue
        better = best is None or (value > best[1] if spec["mode"] == "max" else value < best[1])
        if better:
            best = (rid, float(value))
    if best is None:
        raise InfraError(f"select: no FINISHED run of stage {spec['from']} has metric {metric!r}")
    outputs: dict[str, Any] = {"run_id": best[0], "metric": metric, "value": best[1]}
    name = _model_name(ctx)
    if name:
        outputs.update(_register(ctx, best[0], name))
    return outputs, []


def _register(ctx: Context, run_id: str, name: str) -> dict[str, Any]:
    from dii_hpc.registry.registry import Registry

    version = Registry(ctx.store).register(
        run_id, name, description=f"pipeline {ctx.pipeline.name} ({ctx.pipeline_id}), stage "
        f"{ctx.stage.name}")["version"]
    return {"name": name, "version": version, "model": f"models:/{name}/{version}"}


def register(ctx: Context) -> Outcome:
    spec = ctx.stage.value
    source = ctx.output(spec["from"])
    name = str(spec["name"])
    out = ({"name": name, "version": source["version"], "model": source["model"]}
           if source.get("name") == name and source.get("version") else
           _register(ctx, source["run_id"], name))
    if spec.get("alias"):
        from dii_hpc.registry.registry import Registry

        Registry(ctx.store).set_alias(name, out["version"], str(spec["alias"]),
                                      reason=f"pipeline {ctx.pipeline_id} stage {ctx.stage.name}")
    return {**out, "run_id": source["run_id"]}, []


def audit_job(stage: Stage, model: Any, fill: Callable[[str], str] = str) -> AuditJob:
    """The audit job of a stage, its model filled in."""
    from dii_hpc.audit import job

    overrides = {k: fill(v) if isinstance(v, str) else v
                 for k, v in (stage.options.get("set") or {}).items()}
    if model is not None:
        overrides["model"] = model
    if stage.options.get("model_from"):
        overrides.setdefault("model", PLACEHOLDER_MODEL)
    return job.for_stage(stage.value, overrides, suite=stage.options.get("suite"),
                         attack=stage.options.get("attack"), params=stage.options.get("params"))


def _audit_of(ctx: Context) -> AuditJob:
    source = ctx.stage.options.get("model_from")
    model = model_of(ctx, source) if source else None
    job = audit_job(ctx.stage, model, ctx.fill)
    return job.with_parent(ctx.output(source).get("run_id")) if source else job


def audit(ctx: Context) -> Outcome:
    from dii_hpc.audit.placement import chain as slurm_chain

    out = slurm_chain.merge(_audit_of(ctx))
    return out, [out["run_id"]] if out.get("run_id") else []


def audit_shard(ctx: Context) -> Outcome:
    from dii_hpc.audit.placement import chain as slurm_chain

    assert ctx.task is not None
    return {"shard": slurm_chain.compute_at(_audit_of(ctx), ctx.task)}, []


def _decision(ctx: Context, promote: bool) -> Outcome:
    from dii_hpc.audit.engine import SUITES, known_attacks
    from dii_hpc.registry.registry import Registry

    spec = ctx.stage.value
    name, to = str(spec["name"]), spec.get("to")
    version = version_of(ctx, name)
    catalog = {"suite": list(SUITES), "attack": list(known_attacks())}
    reg = Registry(ctx.store)
    decision = (reg.promote(name, version, to, spec["policy"], catalog) if promote
                else reg.gate(name, version, spec["policy"], to, catalog))
    if not decision.passed:
        target = f" to {to}" if to else ""
        raise CheckFailed(f"models:/{name}/{version} not {'promoted' if promote else 'passed'}"
                          f"{target}: {'; '.join(decision.failures())}")
    return {"name": name, "version": version, "passed": True, "alias": to,
            "checks": len(decision.checks)}, sorted({c.evidence for c in decision.checks
                                                     if c.evidence})


def gate(ctx: Context) -> Outcome:
    return _decision(ctx, promote=False)


def promote(ctx: Context) -> Outcome:
    return _decision(ctx, promote=True)


def profile(ctx: Context) -> Outcome:
    from dii_hpc.drift.monitor import profile as make_profile
    from dii_hpc.drift.options import from_command_line

    spec = ctx.stage.value
    model = spec.get("model")
    if model is None and ctx.stage.options.get("model_from"):
        found = model_of(ctx, ctx.stage.options["model_from"])
        model = found if isinstance(found, str) else None
    rec = make_profile(ctx.store, str(spec["name"]), ctx.fill(str(spec["data"])),
                       from_command_line(spec.get("config"), {}), model,
                       ctx.fill(spec["labels"]) if spec.get("labels") else None)
    return {"monitor": spec["name"], "rows": rec.n_rows}, []


def predict(ctx: Context) -> Outcome:
    from dii_hpc.inference.job import predict as run_predict
    from dii_hpc.inference.jobconfig import request

    spec = ctx.stage.value
    model = spec.get("model")
    if ctx.stage.options.get("model_from"):
        model = model_of(ctx, ctx.stage.options["model_from"])
    given = {"model": model, "data": ctx.fill(str(spec["data"])),
             "out": ctx.fill(str(spec.get("out") or f"{{work}}/predictions/{ctx.stage.name}")),
             "executor": "local", "monitor": spec.get("monitor"),
             "batch_size": spec.get("batch_size"), "device": spec.get("device")}
    section = run_predict(request(spec.get("config"), given), ctx.store)
    return ({"run_id": section.get("run_id"), "rows": section.get("rows"), "out": section.get("out")},
            [section["run_id"]] if section.get("run_id") else [])


def report(ctx: Context) -> Outcome:
    from dii_hpc.report.build import build_site

    out = ctx.stage.value.get("out")
    # The stage is not marked FINISHED before the build: a waiter would see it done with no
    # outputs yet. The page it renders shows it RUNNING ("states as last recorded").
    result = build_site(ctx.store, out=ctx.fill(str(out)) if out else None, progress=False)
    return {"index": str(result.index), "rendered": result.rendered}, []


def command(ctx: Context) -> Outcome:
    """The command in the folder `pipeline submit` ran in (`Places.cwd`: the cache key hashed
    its relative arguments there), `python` resolved as for `dii-hpc run` (`runcmd.command_env`)."""
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


BODIES: dict[str, Callable[[Context], Outcome]] = {
    "select": select, "register": register, "audit": audit, "gate": gate, "promote": promote,
    "profile": profile, "predict": predict, "report": report, "command": command,
}
