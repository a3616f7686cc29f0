"""`dii-hpc drift check|profile|schedule|history`: drift monitoring made for cron.

Exit codes: 0 no drift, 1 drift found (after the results are stored and written), 2 bad input.
Only typer is imported here; the statistics load when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

drift_app = typer.Typer(help="Drift checks: one-off comparisons, monitors, scheduled checks.",
                        no_args_is_help=True)

Opt = typer.Option


def _verdict(flag: bool) -> str:
    return "DRIFT" if flag else "ok"


def _print(section: dict[str, Any], run_id: str | None) -> None:
    """A table a person reads in a cron mail: one line per feature, then the verdict."""
    from dii_hpc.cli.tables import cell, table

    typer.echo(f"drift check: {section.get('current')} vs {section.get('reference')} "
               f"({section['n_current']} vs {section['n_reference']} rows, "
               f"{section['n_features']} features)")
    rows = []
    for name, f in section["features"].items():
        rows.append((name, f["type"], f["test"], cell(f["statistic"]),
                     cell(f.get("p_adjusted", f["p_value"])), cell(f["threshold"]),
                     _verdict(f["drift"])))
    for key, part in (section.get("multivariate") or {}).items():
        rows.append((f"[{key}]", "multivariate", part["test"], cell(part["statistic"]),
                     cell(part["p_value"]), cell(part["threshold"]), _verdict(part["drift"])))
    if section.get("prediction"):
        f = section["prediction"]
        rows.append(("[prediction]", f["type"], f["test"], cell(f["statistic"]),
                     cell(f["p_value"]), cell(f["threshold"]), _verdict(f["drift"])))
    typer.echo(table(rows, ("feature", "type", "test", "statistic", "p-value", "threshold",
                            "drift")))
    if section.get("performance"):
        perf = section["performance"]
        typer.echo(f"performance ({perf['task']}): current {perf['current']} reference "
                   f"{perf['reference']} degraded {perf['degraded'] or 'none'}")
    verdict = "DRIFT" if section["drift"] else "no drift"
    typer.echo(f"verdict: {verdict} ({section['n_drifted']}/{section['n_features']} features "
               f"drifted, share {section['share_drifted']:.2f}; rule {section['rule']})"
               + (f"; run {run_id}" if run_id else ""))


@drift_app.command("check")
def check(
    reference: Annotated[str | None, Opt("--reference", help="Reference file (csv, parquet, npz).")] = None,
    current: Annotated[str | None, Opt("--current", help="Current file to compare.")] = None,
    monitor: Annotated[str | None, Opt("--monitor", help="Monitor made by `drift profile`.")] = None,
    data: Annotated[str | None, Opt("--data", help="Current batch for --monitor (a glob takes the newest file).")] = None,
    labels: Annotated[str | None, Opt("--labels", help="Labels of the current batch: performance drift.")] = None,
    json_file: Annotated[str | None, Opt("--json", help="Write the results as JSON here.")] = None,
    config: Annotated[str | None, Opt("--config", help="YAML file of drift options.")] = None,
    test: Annotated[list[str] | None, Opt("--test", help="FEATURE=TEST override (ks, chisquare, wasserstein, jensenshannon, psi).")] = None,
    categorical: Annotated[list[str] | None, Opt("--categorical", help="Treat this column as categorical.")] = None,
    ignore: Annotated[list[str] | None, Opt("--ignore", help="Leave this column out.")] = None,
    correction: Annotated[str | None, Opt("--correction", help="none, bonferroni or bh.")] = None,
    rule: Annotated[str | None, Opt("--rule", help="share (default), mmd or classifier.")] = None,
    drift_share: Annotated[float | None, Opt("--drift-share", help="Rule share: drifted when this share of features drifts.")] = None,
    alpha: Annotated[float | None, Opt("--alpha", help="Significance level of p-value tests.")] = None,
    mmd: Annotated[bool, Opt("--mmd", help="Also run the multivariate MMD test.")] = False,
    classifier: Annotated[bool, Opt("--classifier", help="Also run the domain-classifier test.")] = False,
    prediction_column: Annotated[str | None, Opt("--prediction-column", help="Column holding model outputs.")] = None,
    on_drift_audit: Annotated[str | None, Opt("--on-drift-audit", help="Audit config to run when drift is found.")] = None,
    no_store: Annotated[bool, Opt("--no-store", help="Do not record the check as a run.")] = False,
) -> None:
    """Compare a batch with a reference; exit 0 no drift, 1 drift, 2 bad input."""
    from dii_hpc.drift import monitor as mon
    from dii_hpc.drift import options
    from dii_hpc.errors import BadInput

    overrides = {"test": test, "categorical": categorical, "ignore": ignore,
                 "correction": correction, "rule": rule, "drift_share": drift_share,
                 "alpha": alpha, "mmd": mmd or None, "classifier": classifier or None,
                 "prediction_column": prediction_column}
    one_off = reference is not None or current is not None
    if one_off == (monitor is not None or data is not None):
        raise BadInput("give --reference and --current, or --monitor and --data")
    store = None
    if monitor is not None or not no_store:
        from dii_hpc.store.store import Store

        store = Store()
    if one_off:
        if not (reference and current):
            raise BadInput(f"--{'current' if reference else 'reference'} is missing")
        if labels:
            raise BadInput("--labels needs a monitor (its reference performance): use --monitor")
        section = mon.check_files(reference, current, options.from_command_line(config, overrides))
    else:
        if not (monitor and data):
            raise BadInput(f"--{'data' if monitor else 'monitor'} is missing")
        section = mon.check_monitor(store, monitor, data, labels,
                                    options.monitor_overrides(config, overrides))
    _finish(section, store, json_file, on_drift_audit, no_store)


def _finish(section: dict[str, Any], store: Store, json_file: str | None,
            on_drift_audit: str | None, no_store: bool) -> None:
    from dii_hpc.drift import alert
    from dii_hpc.drift.monitor import record_check

    run_id = None if no_store else record_check(section, store)
    if section["drift"] and on_drift_audit:
        cmd = alert.audit_command(on_drift_audit, run_id)
        typer.echo(f"drift found: starting audit: {' '.join(cmd)}")
        alert.run_audit(on_drift_audit, cmd, section, store, run_id)
    section["run_id"] = run_id
    if json_file:
        from dii_hpc.store.atomic import dumps, write_bytes

        write_bytes(json_file, dumps(section))
    _print(section, run_id)
    if section["drift"]:
        from dii_hpc.errors import CheckFailed

        raise CheckFailed(f"drift found ({_cause(section)})" + (f"; run {run_id}" if run_id else ""))


def _cause(section: dict[str, Any]) -> str:
    """What raised the alarm, in a few words for the one-line message."""
    causes = []
    if section.get("data_drift", section["drift"]):
        causes.append(f"data: {section['n_drifted']}/{section['n_features']} features, "
                      f"rule {section['rule']}")
    if (section.get("prediction") or {}).get("drift"):
        causes.append("predictions")
    if (section.get("performance") or {}).get("drift"):
        causes.append("performance: " + ", ".join(section["performance"]["degraded"]))
    return "; ".join(causes) or "rule " + section["rule"]


@drift_app.command("profile")
def profile_cmd(
    data: Annotated[str, Opt("--data", help="Reference batch (csv, parquet, npz).")],
    name: Annotated[str, Opt("--name", help="Monitor name (also its experiment).")],
    model: Annotated[str | None, Opt("--model", help="module:callable returning a torch module or an object with embed(x).")] = None,
    labels: Annotated[str | None, Opt("--labels", help="Reference labels: the baseline for performance drift.")] = None,
    config: Annotated[str | None, Opt("--config", help="YAML file of drift options kept with the monitor.")] = None,
    test: Annotated[list[str] | None, Opt("--test", help="FEATURE=TEST override.")] = None,
    categorical: Annotated[list[str] | None, Opt("--categorical", help="Treat this column as categorical.")] = None,
    ignore: Annotated[list[str] | None, Opt("--ignore", help="Leave this column out.")] = None,
    prediction_column: Annotated[str | None, Opt("--prediction-column", help="Column holding model outputs.")] = None,
) -> None:
    """Save a reference profile as monitor NAME in the store."""
    from dii_hpc.drift.monitor import monitor_dir, profile
    from dii_hpc.drift.options import from_command_line
    from dii_hpc.store.store import Store

    store = Store()
    opt = from_command_line(config, {"test": test, "categorical": categorical, "ignore": ignore,
                                     "prediction_column": prediction_column})
    rec = profile(store, name, data, opt, model, labels)
    typer.echo(f"monitor {name}: {rec['n_rows']} reference rows from {rec['source']} "
               f"saved in {monitor_dir(store, name)}")


@drift_app.command("schedule")
def schedule_cmd(
    monitor: Annotated[str, typer.Argument(help="Monitor to check.")],
    every: Annotated[str, Opt("--every", help="30m, 6h, 1d, 1w or a cron expression.")] = "1d",
    data_glob: Annotated[str, Opt("--data-glob", help="Batches to check (the newest match each time).")] = "",
    install: Annotated[bool, Opt("--install", help="Install the entry (scrontab or crontab).")] = False,
    on_drift_audit: Annotated[str | None, Opt("--on-drift-audit", help="Audit config to run when drift is found.")] = None,
    cron: Annotated[bool, Opt("--cron", help="A crontab line even when scrontab exists.")] = False,
    partition: Annotated[str | None, Opt("--partition", help="Slurm partition for the scrontab job.")] = None,
) -> None:
    """Print (or --install) a scrontab entry, or a crontab line without Slurm."""
    from dii_hpc.drift import schedule
    from dii_hpc.drift.monitor import load_profile
    from dii_hpc.errors import BadInput
    from dii_hpc.store.store import Store

    if not data_glob:
        raise BadInput("--data-glob is required (e.g. '/data/batches/*.parquet')")
    store = Store()
    load_profile(store, monitor)  # an unknown monitor is refused now, not at 2 a.m.
    use_scron = schedule.has_scrontab() and not cron
    block = schedule.entry(monitor, every, data_glob, str(store.root.resolve()),
                           scrontab=use_scron, on_drift_audit=on_drift_audit,
                           resources={"partition": partition})
    typer.echo(block, nl=False)
    if install:
        schedule.install(monitor, block, use_scron)
        typer.echo(f"installed with {'scrontab' if use_scron else 'crontab'}", err=True)


@drift_app.command("history")
def history_cmd(monitor: Annotated[str, typer.Argument(help="Monitor name.")]) -> None:
    """The monitor's past checks, oldest first: time, verdict, share of drifted features."""
    from dii_hpc.cli.tables import cell, table
    from dii_hpc.drift.monitor import history
    from dii_hpc.store.store import Store

    checks = history(Store(), monitor)
    if not checks:
        typer.echo(f"monitor {monitor}: no checks yet")
        return
    typer.echo(table([(str(c["start_time"])[:16], c["run_id"], _verdict(c["drift"]),
                       f"share_drifted={cell(c['share_drifted'])}") for c in checks],
                     min_widths=(0, 0, 5)))


def register(app: typer.Typer) -> None:
    """Attach `drift` and its sub-commands to the root app."""
    app.add_typer(drift_app, name="drift")
