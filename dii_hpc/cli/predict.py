"""`dii-hpc predict` (batch inference as one job array) and `dii-hpc predict score --labels`.

Exit codes: 0 done, 1 drift found with --fail-on-drift (or degraded performance in `score`),
2 bad input, 3 a shard failed (rerun: only the failed shards run again).
Only typer is imported here; torch, zarr and pandas load when a command runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dii_hpc.cli import common

Opt = typer.Option

predict_app = typer.Typer(
    help="Batch inference: a model predicts files (or a DatasetLoader) in shards that run as one "
    "job array; `predict score` adds performance once labels arrive.",
    invoke_without_command=True)


def _print(section: dict[str, Any]) -> None:
    from dii_hpc.cli.tables import cell

    m = section["metrics"]
    where = section["executor"] + (f" array {section['array_job_id']}" if section["array_job_id"] else "")
    asked = section.get("shards_requested")
    note = f" ({asked} asked; a shard holds whole batches)" if asked and asked != section["shards"] else ""
    typer.echo(f"predict: {section['rows']} rows in {section['shards']} shard(s){note}: "
               f"{len(section['computed'])} computed, {len(section['skipped'])} already done "
               f"({where}) -> {section['out']}")
    if section["computed"]:
        fig = {k: cell(m.get(k), grouped=True) for k in
               ("rows_per_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "peak_rss_mb")}
        typer.echo(f"throughput {fig['rows_per_s']} rows/s; batch latency ms "
                   f"p50 {fig['latency_p50_ms']} p95 {fig['latency_p95_ms']} "
                   f"p99 {fig['latency_p99_ms']}; peak memory {fig['peak_rss_mb']} MB"
                   + (f"; GPU {cell(m['gpu_util_percent'], grouped=True)}%"
                      if "gpu_util_percent" in m else ""))
    _print_drift(section.get("last_drift"))
    typer.echo(f"run {section['run_id']}")


def _print_drift(d: dict[str, Any] | None) -> None:
    from dii_hpc.cli.tables import cell

    if not d:
        return
    typer.echo(f"monitor {d['monitor']}: {'DRIFT' if d['drift'] else 'no drift'} "
               f"(data {'drift' if d['data_drift'] else 'ok'}, predictions "
               f"{'drift' if d['prediction_drift'] else 'ok'}, share drifted "
               f"{cell(d.get('share_drifted'), grouped=True)}); check run {d['run']}")


@predict_app.callback()
def predict_cmd(
    ctx: typer.Context,
    model: Annotated[str | None, Opt("--model", help="module:callable giving a torch module or an object with predict(x).")] = None,
    data: Annotated[str | None, Opt("--data", help="Quoted glob of csv/parquet/npz files, or module:Class DatasetLoader.")] = None,
    out: Annotated[str | None, Opt("--out", help="Output folder (zarr predictions + manifest).")] = None,
    from_run: Annotated[str | None, Opt("--from-run", help="Training run whose weights artifact to load.")] = None,
    artifact: Annotated[str | None, Opt("--artifact", help="Artifact name of the weights (default model.pt or the only .pt).")] = None,
    executor: Annotated[str | None, Opt("--executor", help="auto | local | slurm | debug (in this process).")] = None,
    shards: Annotated[int | None, Opt("--shards", help="Number of shards = array tasks (default ~250k rows each).")] = None,
    batch_size: Annotated[int | None, Opt("--batch-size", help="Rows per forward pass (default 1024).")] = None,
    monitor: Annotated[str | None, Opt("--monitor", help="Drift monitor to check inputs and predictions against.")] = None,
    experiment: Annotated[str | None, Opt("--experiment", help="Experiment of the inference run (default inference).")] = None,
    device: Annotated[str | None, Opt("--device", help="auto | cpu | cuda.")] = None,
    config: Annotated[str | None, Opt("--config", help="predict YAML (resources:, setup:, defaults).")] = None,
    fail_on_drift: Annotated[bool, Opt("--fail-on-drift", help="Exit 1 when the monitor finds drift.")] = False,
) -> None:
    """Predict DATA with MODEL into OUT as one job array; a rerun computes only missing shards."""
    if ctx.invoked_subcommand is not None:
        return
    from dii_hpc.errors import BadInput, CheckFailed
    from dii_hpc.inference.job import predict
    from dii_hpc.inference.jobconfig import request

    given = {"model": model, "data": data, "out": out, "from_run": from_run, "artifact": artifact,
             "executor": executor, "shards": shards, "batch_size": batch_size, "monitor": monitor,
             "experiment": experiment, "device": device}
    if config is None and not any(v is not None for v in given.values()):
        typer.echo(ctx.get_help())
        raise BadInput("give --model, --data and --out (or `predict score --labels ...`)")
    section = predict(request(config, given), common.store(write=True))
    _print(section)
    if fail_on_drift and (section.get("last_drift") or {}).get("drift"):
        raise CheckFailed(f"monitor {monitor or section['monitor']}: drift found; "
                          f"check run {section['last_drift']['run']}")


@predict_app.command("score")
def score_cmd(
    labels: Annotated[str, Opt("--labels", help="Labels file (csv/parquet/npz; column label/y/target or one column).")],
    out: Annotated[str, Opt("--out", help="Output folder of an earlier `dii-hpc predict`.")],
    monitor: Annotated[str | None, Opt("--monitor", help="Monitor whose trend gets the metrics (default: the job's).")] = None,
) -> None:
    """Accuracy/F1 or MAE/RMSE of stored predictions; added to the monitor's trend."""
    from dii_hpc.cli.tables import cell
    from dii_hpc.errors import CheckFailed
    from dii_hpc.inference.drift_check import score

    res = score(common.store(write=True), out, labels, monitor)
    metrics = ", ".join(f"{k} {cell(v)}" for k, v in res["metrics"].items())
    typer.echo(f"score: {res['rows']} rows ({res['task']}): {metrics}")
    _print_drift(res.get("last_drift"))
    perf = res.get("performance") or {}
    if perf.get("drift"):
        raise CheckFailed(f"performance degraded vs the monitor's reference: "
                          f"{', '.join(perf['degraded'])}")


def register(app: typer.Typer) -> None:
    """Attach `predict` (and `predict score`) to the root app."""
    app.add_typer(predict_app, name="predict")
