"""`dii-hpc drift check|profile|schedule|history`: drift monitoring made for cron.

Exit codes: 0 no drift, 1 drift found (after the results are stored and written), 2 bad input.
Only typer is imported here; the statistics load when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dii_hpc.cli import common

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.records.drift import DriftSection, FeatureResult, StatResult

drift_app = typer.Typer(help="Drift checks: one-off comparisons, monitors, scheduled checks.",
                        no_args_is_help=True)

Opt = typer.Option


def _verdict(flag: bool) -> str:
    return "DRIFT" if flag else "ok"


def _row(name: str, kind: str, part: StatResult | FeatureResult,
         p_value: float | None) -> tuple[str, ...]:
    from dii_hpc.cli.tables import cell

    return (name, kind, part.test, cell(part.statistic), cell(p_value), cell(part.threshold),
            _verdict(part.drift))


def _print(section: DriftSection) -> None:
    """A table a person reads in a cron mail: one line per feature, then the verdict."""
    from dii_hpc.cli.tables import table

    typer.echo(f"drift check: {section.current} vs {section.reference} "
               f"({section.n_current} vs {section.n_reference} rows, "
               f"{section.n_features} features)")
    rows = [_row(name, f.type, f, f.p_adjusted if f.p_adjusted is not None else f.p_value)
            for name, f in section.features.items()]
    rows += [_row(f"[{key}]", "multivariate", part, part.p_value)
             for key, part in section.multivariate.items()]
    if section.prediction is not None:
        rows.append(_row("[prediction]", section.prediction.type, section.prediction,
                         section.prediction.p_value))
    typer.echo(table(rows, ("feature", "type", "test", "statistic", "p-value", "threshold",
                            "drift")))
    if section.sketch is not None:
        sk = section.sketch
        typer.echo(f"from sketches: KLL k={sk.k}, rank error {sk.rank_error_reference:.4f} "
                   f"(reference, {sk.reference_files} file(s)) + {sk.rank_error_current:.4f} "
                   f"(current, {sk.current_files} file(s)); KS within their sum of the exact")
    perf = section.performance
    if perf is not None and (perf.current or not perf.method):
        typer.echo(f"performance ({perf.task}): current {perf.current} reference "
                   f"{perf.reference} degraded {perf.degraded or 'none'}")
    _print_estimates(section)
    _print_quality(section)
    verdict = "DRIFT" if section.drift else "no drift"
    typer.echo(f"verdict: {verdict} ({section.n_drifted}/{section.n_features} features "
               f"drifted, share {section.share_drifted or 0.0:.2f}; rule {section.rule})"
               + (f"; run {section.run_id}" if section.run_id else ""))


@drift_app.command("check")
def check(
    reference: Annotated[str | None, Opt("--reference", help="Reference file (csv, parquet, npz).")] = None,
    current: Annotated[str | None, Opt("--current", help="Current file to compare.")] = None,
    monitor: Annotated[str | None, Opt("--monitor", help="Monitor made by `drift profile`.")] = None,
    data: Annotated[str | None, Opt("--data", help="Current batch for --monitor (a glob takes the newest file).")] = None,
    labels: Annotated[str | None, Opt("--labels", help="Labels of the current batch: performance drift.")] = None,
    json_file: Annotated[str | None, Opt("--json", help="Write the results as JSON here.")] = None,
    config: Annotated[str | None, Opt("--config", help="YAML file of drift options.")] = None,
    test: Annotated[list[str] | None, Opt("--test", help="FEATURE=TEST override (`dii-hpc drift tests` lists the tests).")] = None,
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
    chunk_size: Annotated[int | None, Opt("--chunk-size", help="Estimate performance per chunk of this many rows (a monitor with labels).")] = None,
    sketch: Annotated[bool, Opt("--sketch", help="Compare mergeable sketches of every file a glob matches (data larger than memory).")] = False,
    executor: Annotated[str, Opt("--executor", help="local, or slurm: one array task per shard and a merge job (implies --sketch).")] = "local",
) -> None:
    """Compare a batch with a reference; exit 0 no drift, 1 drift, 2 bad input."""
    from dii_hpc.drift import check as checks

    overrides = {"test": test, "categorical": categorical, "ignore": ignore,
                 "correction": correction, "rule": rule, "drift_share": drift_share,
                 "alpha": alpha, "mmd": mmd or None, "classifier": classifier or None,
                 "prediction_column": prediction_column, "sketch": sketch or None,
                 "chunk_size": chunk_size}
    store = None
    if monitor is not None or not no_store:
        store = common.store(write=True)
    section = checks.run(
        checks.Target(reference, current, monitor, data, labels), store, config=config,
        overrides=overrides, json_file=json_file, on_drift_audit=on_drift_audit,
        keep=not no_store, say=typer.echo, executor=executor)
    _print(section)
    failed = checks.failure(section)
    if failed is not None:
        raise failed


def _print_estimates(section: DriftSection) -> None:
    """Estimated (and realized) performance with bands, per chunk when there are chunks."""
    from dii_hpc.cli.tables import cell, table

    perf = section.performance
    if perf is None or not perf.method:
        return
    if perf.calibration is not None and not perf.calibration.ok:
        typer.echo(f"warning: {perf.calibration.detail}")
    rows = []
    for key, est, real in [("batch", perf.estimated, perf.realized),
                           *((c.key, c.estimated, c.realized) for c in perf.chunks)]:
        for metric in est or real:
            e, r = est.get(metric), real.get(metric)
            rows.append((key, metric, cell(e.value) if e else "",
                         f"[{cell(e.lower)}, {cell(e.upper)}]" if e else "",
                         cell(r.value) if r else "",
                         "ALERT" if (e and e.alert) or (r and r.alert) else "ok"))
    typer.echo(f"performance ({perf.task}, estimated by {perf.method}):")
    typer.echo(table(rows, ("chunk", "metric", "estimated", "band (3 sigma)", "realized",
                            "alert")))


def _print_quality(section: DriftSection) -> None:
    """The data-quality rules per column (every failure; a count of the rules that passed)."""
    from dii_hpc.cli.tables import table

    if not section.data_quality:
        return
    per: dict[str, list[tuple[str, str]]] = {}
    for q in section.data_quality:
        fails = per.setdefault(q.column or "(table)", [])
        if q.status == "fail":
            fails.append((q.rule, q.detail))
    rows = [(col, "FAIL" if fails else "ok", ", ".join(r for r, _ in fails),
             "; ".join(d for _, d in fails)) for col, fails in per.items()]
    failed = len(section.quality_failures())
    typer.echo(f"data quality: {failed} rule(s) failed over {len(per)} column(s)")
    typer.echo(table(rows, ("column", "quality", "rules failed", "detail")))


@drift_app.command("profile")
def profile_cmd(
    data: Annotated[str, Opt("--data", help="Reference batch (csv, parquet, npz).")],
    name: Annotated[str, Opt("--name", help="Monitor name (also its experiment).")],
    model: Annotated[str | None, Opt("--model", help="module:callable returning a torch module or an object with embed(x).")] = None,
    labels: Annotated[str | None, Opt("--labels", help="Reference labels: the baseline for performance drift.")] = None,
    target: Annotated[str | None, Opt("--target", help="Column of --data holding the labels (not a feature): the baseline, and what performance is estimated from.")] = None,
    config: Annotated[str | None, Opt("--config", help="YAML file of drift options kept with the monitor.")] = None,
    test: Annotated[list[str] | None, Opt("--test", help="FEATURE=TEST override.")] = None,
    categorical: Annotated[list[str] | None, Opt("--categorical", help="Treat this column as categorical.")] = None,
    ignore: Annotated[list[str] | None, Opt("--ignore", help="Leave this column out.")] = None,
    prediction_column: Annotated[str | None, Opt("--prediction-column", help="Column holding model outputs.")] = None,
    score_column: Annotated[list[str] | None, Opt("--score-column", help="Column holding the model's score of a class, once per class in sorted class order (or once: the larger of two classes'): CBPE without --model, as NannyML's y_pred_proba.")] = None,
    sketch: Annotated[bool, Opt("--sketch", help="Keep a mergeable sketch of every file a glob matches; checks then use sketches.")] = False,
) -> None:
    """Save a reference profile as monitor NAME in the store."""
    from dii_hpc.drift.monitor import profile
    from dii_hpc.drift.options import from_command_line
    from dii_hpc.errors import BadInput
    from dii_hpc.records import monitor as monitors

    store = common.store(write=True)
    if labels and target:
        raise BadInput("give --labels or --target, not both")
    opt = from_command_line(config, {"test": test, "categorical": categorical, "ignore": ignore,
                                     "prediction_column": prediction_column,
                                     "score_columns": score_column,
                                     "target_column": target,
                                     "sketch": sketch or None})
    rec = profile(store, name, data, opt, model, labels)
    typer.echo(f"monitor {name}: {rec.n_rows} reference rows from {rec.source} "
               f"saved in {monitors.folder(store, name)}")
    if rec.estimator:
        typer.echo(f"performance without labels: {rec.estimator}"
                   + (f"; calibration {rec.calibration.detail}" if rec.calibration else ""))


@drift_app.command("score")
def score_cmd(
    labels: Annotated[str, Opt("--labels", help="Labels of the checked batch (column label/y/target or one column).")],
    run: Annotated[str | None, Opt("--run", help="The check's run id (default: the monitor's newest check).")] = None,
    monitor: Annotated[str | None, Opt("--monitor", help="Monitor whose newest check gets the labels.")] = None,
    json_file: Annotated[str | None, Opt("--json", help="Write the updated check as JSON here.")] = None,
) -> None:
    """Realized performance of a past check, stored beside its estimate; exit 1 on an alert."""
    from dii_hpc.cli import paths
    from dii_hpc.drift.estimate.score import score
    from dii_hpc.errors import CheckFailed

    paths.output_file(json_file, "--json")
    section = score(common.store(write=True), labels, run, monitor)
    _print_estimates(section)
    if json_file:
        from dii_hpc.store.atomic import write_bytes

        write_bytes(json_file, common.to_json(section.dump()).encode())
    perf = section.performance
    if perf is not None and perf.drift:
        raise CheckFailed(f"run {section.run_id}: performance alert "
                          f"({', '.join(perf.degraded + perf.alerts)})")


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
    from dii_hpc.errors import BadInput
    from dii_hpc.records import monitor as monitors

    if not data_glob:
        raise BadInput("--data-glob is required (e.g. '/data/batches/*.parquet')")
    store = common.store()
    monitors.read(store, monitor)  # an unknown monitor is refused now, not at 2 a.m.
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

    checks = history(common.store(), monitor)
    if not checks:
        typer.echo(f"monitor {monitor}: no checks yet")
        return
    typer.echo(table([(str(c["start_time"])[:16], c["run_id"], _verdict(c["drift"]),
                       f"share_drifted={cell(c['share_drifted'])}") for c in checks],
                     min_widths=(0, 0, 5)))


@drift_app.command("tests")
def tests_cmd() -> None:
    """The stat tests installed (built-in and plug-ins): features, threshold, where from."""
    from dii_hpc.cli.tables import table
    from dii_hpc.drift.stattest import STAT_TESTS

    rows = [(name, ",".join(sorted(e.record.kinds)), e.record.describe_threshold(), e.origin,
             e.record.doc) for name, e in STAT_TESTS.entries().items()]
    typer.echo(table(rows, ("test", "features", "drift when", "origin", "what")))


@drift_app.command("rules")
def rules_cmd() -> None:
    """The data-quality rules installed (built-in and plug-ins): default threshold, origin."""
    from dii_hpc.cli.tables import cell, table
    from dii_hpc.drift.quality.rule import QUALITY_RULES

    entries = sorted(QUALITY_RULES.entries().items(), key=lambda kv: (kv[1].record.order, kv[0]))
    rows = [(name, cell(e.record.threshold), str(e.record.exit_code), e.origin, e.record.doc)
            for name, e in entries]
    typer.echo(table(rows, ("rule", "threshold", "exit", "origin", "what")))


def register(app: typer.Typer) -> None:
    """Attach `drift` and its sub-commands to the root app."""
    app.add_typer(drift_app, name="drift")
