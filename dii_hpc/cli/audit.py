"""`dii-hpc audit suite|attack|run|list`: trust assessments at levels I, II and III.

Only typer is imported here; the engine (ART, torch) loads when a command runs.
Exit codes: 0 ok, 1 a --fail-under/--fail-over threshold breached, 2 bad input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.job import AuditJob

audit_app = typer.Typer(help="Model trust audits (evasion, privacy, poisoning) with ART.",
                        no_args_is_help=True, rich_markup_mode=None)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="Audit YAML config.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model as module:callable.")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Dataset as module:callable.")]
NOpt = Annotated[int | None, typer.Option("--n-samples", help="Evaluation sample size.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for sampling and attacks.")]
JsonOpt = Annotated[str | None, typer.Option("--json", help="Write the result JSON here.")]
JunitOpt = Annotated[str | None, typer.Option("--junit", help="Write JUnit XML here.")]
UnderOpt = Annotated[list[str] | None, typer.Option(
    "--fail-under", help="METRIC=VALUE: exit 1 when the metric is below VALUE.")]
OverOpt = Annotated[list[str] | None, typer.Option(
    "--fail-over", help="METRIC=VALUE: exit 1 when the metric is above VALUE (e.g. auc).")]
MpiOpt = Annotated[int, typer.Option("--mpi", help="Shard evasion and privacy attacks over N MPI ranks.")]
NoStoreOpt = Annotated[bool, typer.Option("--no-store", help="Do not record a run.")]
ExpOpt = Annotated[str | None, typer.Option("--experiment", help="Experiment of the run.")]
ParentOpt = Annotated[str | None, typer.Option("--parent-run", help="Training run audited.")]
EngineOpt = Annotated[str | None, typer.Option(
    "--engine", help="art (default) | torch: attacks written in torch, for torch models.")]


def _overrides(model: str | None, data: str | None, n: int | None, seed: int | None,
               experiment: str | None, parent: str | None) -> dict[str, Any]:
    return {"model": model, "data": data, "n_samples": n, "seed": seed,
            "experiment": experiment, "parent_run": parent}


def _execute(job: AuditJob, *, json_path: str | None, junit: str | None,
             under: list[str] | None, over: list[str] | None, no_store: bool) -> None:
    """Run the job (the audit package decides where), write files, print, set the exit code."""
    from dii_hpc.audit.core import results
    from dii_hpc.audit.placement import runner
    from dii_hpc.cli.paths import output_file
    from dii_hpc.errors import CheckFailed

    output_file(json_path, "--json")  # before the attack: a bad path must not waste it
    output_file(junit, "--junit")
    result, checks = runner.execute(job, under=under, over=over, persist=not no_store)
    if json_path:
        results.write_json(json_path, result)
    if junit:
        results.write_junit(junit, result, checks)
    _print(result, checks)
    failed = [c for c in checks if c["failed"]]
    if failed:
        raise CheckFailed(breach_message(failed[0]))


def breach_message(check: dict[str, Any]) -> str:
    """"robust_accuracy=0.169612 < 0.1696201": digits enough to show the two differ."""
    from dii_hpc.cli.tables import cells_apart

    value, limit = cells_apart(check["value"], check["limit"])
    return f"threshold breached: {check['metric']}={value} {check['op']} {limit}"


_SHOWN = ("fraction", "clean_accuracy", "robust_accuracy", "attack_success_rate",
          "baseline_attack_success_rate", "clean_accuracy_drop", "auc", "balanced_accuracy", "tpr_at_1pct_fpr", "precision",
          "recall", "clean_mae", "adv_mae", "accuracy_drop_at_max_flip", "epsilon_lower_bound",
          "tpr_at_0.1pct_fpr", "baseline_auc", "correct_guesses")


def _print(result: dict[str, Any], checks: list[dict[str, Any]]) -> None:
    from dii_hpc.cli.tables import cell, cells_apart, table

    name = result.get("suite") or result.get("attack")
    grade = f" grade {result['grade']}" if result.get("grade") else ""
    what = f"{name} suite" if result.get("suite") else str(name)
    if result.get("suite") and name == result.get("threat"):
        what = "suite"  # "evasion suite", not "evasion evasion suite"
    if result.get("standard"):
        what += f" --standard {result['standard']['name']}"
    typer.echo(f"audit level {result['level']}: {result['threat']} {what} on {result['task']} "
               f"(n={result['n_samples']}){grade}")
    rows = []
    for record in result.get("attacks", []):
        m = record["metrics"]
        keys = [k for k in _SHOWN if k in m] or [k for k, v in m.items() if isinstance(v, float)]
        rows.append((record["name"], "  ".join(f"{k}={cell(m[k])}" for k in keys[:4])))
    if rows:
        typer.echo(_indent(table(rows, min_widths=(20,), sep=" ")))
    for flag in result.get("sanity", []):
        if not flag["ok"]:
            typer.echo(f"  sanity: {flag['flag']}: {flag['detail']}")
    for c in checks:
        value, limit = cells_apart(c["value"], c["limit"])
        typer.echo(f"  threshold {c['metric']} {value} "
                   f"{'FAILED' if c['failed'] else 'ok'} (limit {limit})")
    typer.echo(result.get("summary", ""))
    if result.get("run_id"):
        typer.echo(f"run {result['run_id']}")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


@audit_app.command("suite")
def suite_cmd(threat: Annotated[str, typer.Argument(help="evasion | privacy | poisoning")],
              config: ConfigOpt = None, model: ModelOpt = None, data: DataOpt = None,
              n_samples: NOpt = None, seed: SeedOpt = None, json: JsonOpt = None,
              junit: JunitOpt = None, fail_under: UnderOpt = None, fail_over: OverOpt = None,
              mpi: MpiOpt = 1, no_store: NoStoreOpt = False, experiment: ExpOpt = None,
              parent_run: ParentOpt = None,
              executor: Annotated[str, typer.Option(
                  "--executor", help="local | slurm: one array task per shard (an attack, a curve "
                  "point, a poison fraction, a block of --standard samples).")
              ] = "local",
              partition: Annotated[str | None, typer.Option(
                  "--partition", help="Slurm partition for --executor slurm.")] = None,
              standard: Annotated[str | None, typer.Option(
                  "--standard", help="evasion: autoattack (AutoAttack's standard, RobustBench)."
              )] = None,
              eps: Annotated[str | None, typer.Option(
                  "--eps", help="--standard budget, a number or a fraction (8/255).")] = None,
              norm: Annotated[str | None, typer.Option(
                  "--norm", help="--standard norm: inf (default) or 2.")] = None,
              engine: EngineOpt = None,
              wait: Annotated[bool, typer.Option(
                  "--wait/--no-wait", help="--executor slurm: --no-wait queues the shard array "
                  "and a dependent merge job, then returns.")] = True) -> None:
    """Level I: the fixed suite of one threat, graded, with intervals and sanity flags."""
    from dii_hpc.audit import job as jobs

    job = jobs.for_suite(threat, config, _overrides(model, data, n_samples, seed, experiment,
                                                    parent_run),
                         standard=standard, eps=eps, norm=norm, engine=engine,
                         executor=executor, partition=partition, mpi=mpi)
    if not wait:
        _queue(job, json, junit, fail_under, fail_over, no_store)
        return
    _execute(job, json_path=json, junit=junit, under=fail_under, over=fail_over,
             no_store=no_store)


def _queue(job: AuditJob, json_path: str | None, junit: str | None, under: list[str] | None,
           over: list[str] | None, no_store: bool) -> None:
    """--no-wait: the shard array and its merge job are queued; nothing waits here."""
    from dii_hpc.audit.placement import chain

    out = chain.queue(job, outputs=bool(json_path or junit), persist=not no_store,
                      under=under, over=over)
    array = f"array {out['array']} ({out['tasks']} shard task(s)), " if out["array"] else ""
    after = " (after the array)" if out["array"] else ""
    typer.echo(f"audit {job.name} suite queued: {array}merge job {out['merge']}{after}; "
               f"run {out['run_id']} in experiment {job.experiment}")
    typer.echo(f"next: dii-hpc status {job.experiment}")


@audit_app.command("attack")
def attack_cmd(name: Annotated[str, typer.Argument(help="Attack name (see `audit list`).")],
               config: ConfigOpt = None, model: ModelOpt = None, data: DataOpt = None,
               param: Annotated[list[str] | None, typer.Option(
                   "--param", "-p", help="KEY=VALUE attack parameter (repeatable).")] = None,
               n_samples: NOpt = None, seed: SeedOpt = None, json: JsonOpt = None,
               junit: JunitOpt = None, fail_under: UnderOpt = None, fail_over: OverOpt = None,
               mpi: MpiOpt = 1, no_store: NoStoreOpt = False, experiment: ExpOpt = None,
               parent_run: ParentOpt = None, engine: EngineOpt = None,
               executor: Annotated[str, typer.Option(
                   "--executor", help="local | slurm (lira, rmia, dp_canary: reference models "
                   "as one array).")] = "local",
               partition: Annotated[str | None, typer.Option(
                   "--partition", help="Slurm partition for --executor slurm.")] = None) -> None:
    """Level II: one attack, range-scaled defaults, thresholds, JUnit for CI."""
    from dii_hpc.audit import job as jobs
    from dii_hpc.cli.options import key_values

    job = jobs.for_attack(name, config, _overrides(model, data, n_samples, seed, experiment,
                                                   parent_run),
                          params=key_values(param), engine=engine, executor=executor,
                          partition=partition, mpi=mpi)
    _execute(job, json_path=json, junit=junit, under=fail_under, over=fail_over,
             no_store=no_store)


@audit_app.command("run")
def run_cmd(config: Annotated[str, typer.Argument(help="Audit YAML config.")],
            model: ModelOpt = None, data: DataOpt = None, n_samples: NOpt = None,
            seed: SeedOpt = None, json: JsonOpt = None, junit: JunitOpt = None,
            fail_under: UnderOpt = None, fail_over: OverOpt = None, mpi: MpiOpt = 1,
            no_store: NoStoreOpt = False, experiment: ExpOpt = None,
            parent_run: ParentOpt = None) -> None:
    """Level III (or whatever the config's `level` says): any ART attack, any parameters."""
    from dii_hpc.audit import job as jobs

    job = jobs.for_run(config, _overrides(model, data, n_samples, seed, experiment, parent_run),
                       mpi=mpi)
    _execute(job, json_path=json, junit=junit, under=fail_under, over=fail_over,
             no_store=no_store)


@audit_app.command("list")
def list_cmd() -> None:
    """Installed suites, standards and attacks (built-in or from plug-ins), with what each
    does and where it came from."""
    from dii_hpc.audit import listing
    from dii_hpc.cli.tables import table

    typer.echo(table(listing.suites(), ("suite", "threat", "origin", "what")))
    typer.echo("")
    rows = [(r.name, r.threat, ", ".join(r.engines), ", ".join(r.tasks), r.origin, r.doc)
            for r in listing.attacks()]
    typer.echo(table(rows, ("attack", "threat", "engines (--engine)", "tasks", "origin",
                            "what")))
    every = {r.name for r in listing.attacks()}
    typer.echo("engines (--engine): " + ", ".join(
        f"{e} ({'every attack' if set(names) == every else ', '.join(names)})"
        for e, names in listing.engines()))
    for name, threat, lines in listing.standards():
        typer.echo(f"\nstandard {name} (suite {threat} --standard {name}):")
        for line in lines:
            typer.echo(f"    {line}")


def register(app: typer.Typer) -> None:
    """Attach `audit` to the root app."""
    app.add_typer(audit_app, name="audit")
