"""`predict`: check everything, lay out shards, run the pending ones, track it as a run.

Order: load the model and scan the inputs (bad input -> exit 2 before anything is written),
probe one batch (the output names and shapes), prepare the output folder (a folder of another
model's predictions is refused), then run only the shards without a done marker, record the run
of kind "inference" and, with a monitor, check drift on the inputs and the predictions.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.errors import BadInput, InfraError
from dii_hpc.inference import dispatch, inputs, output
from dii_hpc.inference import predictor as mdl
from dii_hpc.records import inference

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.launch.backend import Job
    from dii_hpc.store.store import Store

ROWS_PER_SHARD = 250_000  # default shard size when --shards is not given
# metric series kept in the store (the rest of the figures stay in the "inference" section)
LOGGED = ("rows_per_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "peak_rss_mb",
          "gpu_util_percent")


@dataclass
class PredictRequest:
    """Everything `dii-hpc predict` takes (CLI options over a predict config's values)."""

    model: str
    data: str
    out: str
    from_run: str | None = None
    artifact: str | None = None
    executor: str = "auto"
    shards: int | None = None
    batch_size: int = 1024
    experiment: str = "inference"
    monitor: str | None = None
    device: str = "auto"
    resources: Any = None  # dii_hpc.config.schema.Resources
    setup: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)  # the predict config's folder: its modules


def _probe(model: Any, sources: list[inputs.Source], columns: list[str] | None,
           device: str) -> dict[str, dict[str, Any]]:
    """Two rows through the model: output names, shapes and dtypes (and a readable failure)."""
    data = [s.to_dict() for s in sources]
    x = inputs.read_rows(data, columns, 0, min(2, sum(s.rows for s in sources)))
    try:
        outs = mdl.forward(model, x, device)
    except Exception as err:  # noqa: BLE001 - the model's own words, one line
        first = str(err).splitlines()[0] if str(err) else ""
        raise BadInput(f"the model cannot take the rows of {sources[0].path} (shape {x.shape}): "
                       f"{type(err).__name__}: {first}") from err
    return {k: {"shape": list(v.shape[1:]), "dtype": str(v.dtype)} for k, v in outs.items()}


def _device(req: PredictRequest, kind: str) -> str:
    if req.device != "auto":
        return req.device
    if req.resources.gpus > 0:
        return "cuda"
    if kind != "slurm" and mdl.is_torch_available():
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def _probe_device(device: str, kind: str) -> str:
    """Where the driver tries the model: the job's device, or the CPU on a GPU-less login node."""
    if not device.startswith("cuda"):
        return device
    import torch

    if torch.cuda.is_available():
        return device
    if kind != "slurm":
        raise BadInput(f"--device {device}: no CUDA device on this host")
    return "cpu"


def plan(req: PredictRequest, store: Store, kind: str) -> tuple[Any, dict[str, Any]]:
    """(model, new manifest): every check that can fail on the user's input happens here."""
    model, info = mdl.load(req.model, store, req.from_run, req.artifact, search=req.search)
    sources = inputs.resolve(req.data, Path(store.root) / "cache" / "inference-inputs.json")
    declared, width = mdl.input_spec(model)
    columns = inputs.select_columns(sources, declared, width)
    device = _device(req, kind)
    probe_on = _probe_device(device, kind)
    if mdl.is_torch(model):
        model = model.to(probe_on).eval()
    outputs = _probe(model, sources, columns, probe_on)
    rows = sum(s.rows for s in sources)
    shards = req.shards or max(1, math.ceil(rows / ROWS_PER_SHARD))
    ranges, batch = output.layout(rows, shards, req.batch_size)
    return model, {
        "format": output.FORMAT, "created": time.time(),
        "model": {**info.identity(), "artifact": info.artifact, "weights": info.weights,
                  "search": req.search},
        "data": [s.to_dict() for s in sources], "columns": columns, "rows": rows,
        "shards": ranges, "shard_rows": ranges[0][1] - ranges[0][0], "batch_size": batch,
        "threads": req.resources.cpus_per_task, "device": device, "outputs": outputs,
        "monitor": req.monitor, "runs": []}


def _aggregate(outcome: dispatch.Outcome, manifest: dict[str, Any], wall: float) -> dict[str, float]:
    """Run-level metrics: throughput, batch latency percentiles, memory, GPU."""
    from dii_hpc.inference.shard import percentiles

    fresh = [r for r in outcome.results.values() if not r.get("skipped")]
    rows = sum(r["rows"] for r in fresh)
    metrics: dict[str, float] = {"rows_computed": float(rows), "shards_failed": float(len(outcome.errors))}
    if fresh:
        lat = [v / 1e3 for r in fresh for v in r["latencies_ms"]]
        metrics.update(rows_per_s=rows / max(wall, 1e-9),
                       task_rows_per_s=rows / max(sum(r["seconds"] for r in fresh), 1e-9),
                       **percentiles(lat), peak_rss_mb=max(r["peak_rss_mb"] for r in fresh))
        gpu = [r["gpu_util_percent"] for r in fresh if "gpu_util_percent" in r]
        if gpu:
            metrics["gpu_util_percent"] = float(np.mean(gpu))
    return metrics


def _log_shards(run: Any, outcome: dispatch.Outcome, n: int) -> None:
    """Per-shard series (step = shard index): rows/s, seconds, errors."""
    for i in range(n):
        r = outcome.results.get(i)
        if i in outcome.errors:
            run.log_metrics({"shard_errors": 1.0}, step=i)
        elif r is not None and not r.get("skipped"):
            run.log_metrics({"shard_errors": 0.0, "shard_rows_per_s": r["rows_per_s"]}, step=i)


def _job(req: PredictRequest, store: Store, kind: str, folder: Path,
         conf: dict[str, str] | None) -> Job:
    from dii_hpc.launch import backend

    return backend.job(kind, folder, req.resources, store.root,
                       backend.job_name("predict", req.experiment), req.setup, conf=conf)


def _record_array(store: Store, experiment: str, run_id: str, array: str) -> None:
    """``<store>/jobs/predict-<run>.json``: the array serves the prediction run (no job is the
    run's own: its process waits here), so `dii-hpc cancel` of the run finds and cancels the
    array from any host, even once this process is gone (`lifecycle._serving_jobs`)."""
    from dii_hpc.records import jobs

    name = f"predict-{run_id}"
    jobs.write(store, name, jobs.JobRecord(
        submission_id=name, experiment=experiment, executor="slurm", arrays=[array],
        runs={run_id: ""}, submitted=time.time(), host=os.uname().nodename))


def predict(req: PredictRequest, store: Store) -> dict[str, Any]:
    """Run (or finish) a prediction job; returns the run's "inference" section."""
    from dii_hpc.launch.backend import choose
    from dii_hpc.store.atomic import write_json
    from dii_hpc.tracking.run import start_run

    if req.resources is None:
        from dii_hpc.config.schema import Resources

        req.resources = Resources()
    kind, conf = ("debug", None) if req.executor == "debug" else choose(req.executor)
    if req.monitor:
        from dii_hpc.records import monitor as monitors

        monitors.read(store, req.monitor)  # an unknown monitor is refused before the job
    job = _job(req, store, kind, store.jobs_dir, conf)  # a request Slurm cannot hold: before the run
    _model, new = plan(req, store, kind)
    out = Path(req.out).expanduser().resolve()
    manifest, created = output.prepare(out, new)
    n = len(manifest["shards"])
    pending = [i for i in range(n) if output.done(out, i) is None]
    params = {"model": req.model, "from_run": req.from_run, "data": req.data, "out": str(out),
              "shards": n, "batch_size": manifest["batch_size"], "executor": kind}
    with start_run(req.experiment, params=params, tags={"out": str(out)},
                           kind="inference", store=store, parent_run=req.from_run) as run:
        write_json(output.manifest_path(out), {**manifest, "runs": [*manifest.get("runs", []), run.id]})
        from dii_hpc.registry import uri

        uri.attach(manifest["model"]["model"], "deployment", run.id, store)  # a registered version
        run.set_manifest({"predictions": str(out / output.MANIFEST),
                          "weights_sha256": manifest["model"]["weights_sha256"],
                          "data": {d["path"]: d["sha256"] for d in manifest["data"]}})
        t0 = time.perf_counter()
        outcome = dispatch.run(out, pending, replace(
            job, folder=store.run_path(req.experiment, run.id) / "logs"), run=run,
            on_array=lambda array: _record_array(store, req.experiment, run.id, array))
        wall = time.perf_counter() - t0
        metrics = _aggregate(outcome, manifest, wall)
        run.log_metrics({k: v for k, v in metrics.items() if k in LOGGED}, step=0)
        _log_shards(run, outcome, n)
        if outcome.array:
            run.set_section("slurm", {"array_job_id": outcome.array,
                                      "tasks": {str(k): v for k, v in outcome.job_ids.items()}})
        section = _section(req, manifest, out, outcome, metrics, pending, wall, kind)
        if req.monitor and not outcome.errors:
            from dii_hpc.inference.drift_check import check_after_job

            section.last_drift = check_after_job(store, req.monitor, out, manifest, run.id)
        inference.write(run, section)
        if outcome.errors:
            first = min(outcome.errors)
            raise InfraError(f"{len(outcome.errors)} of {len(pending)} shard(s) failed "
                             f"({', '.join(map(str, sorted(outcome.errors)))}); shard {first}: "
                             f"{outcome.errors[first]}; rerun to compute only those")
    return {**section.model_dump(), "run_id": run.id}


def _section(req: PredictRequest, manifest: dict[str, Any], out: Path, outcome: dispatch.Outcome,
             metrics: dict[str, float], pending: list[int], wall: float,
             kind: str) -> inference.InferenceSection:
    """What the report lists for a deployment (see DEVELOPERS.md: run.json "inference")."""
    n = len(manifest["shards"])
    return inference.InferenceSection.model_validate({
        "model": manifest["model"]["model"], "model_run": manifest["model"]["model_run"],
        "weights_sha256": manifest["model"]["weights_sha256"], "rows": manifest["rows"],
        "rows_computed": int(metrics["rows_computed"]), "rows_per_s": metrics.get("rows_per_s"),
        "shards": n, "shards_requested": req.shards, "computed": sorted(outcome.results.keys() - {i for i, r in outcome.results.items()
                                                                  if r.get("skipped")}),
        "skipped": [i for i in range(n) if i not in pending],
        "failed": {str(k): v for k, v in sorted(outcome.errors.items())},
        "out": str(out), "outputs": manifest["outputs"], "executor": kind,
        "array_job_id": outcome.array, "wall_seconds": wall, "batch_size": manifest["batch_size"],
        "device": manifest["device"], "monitor": req.monitor, "last_drift": None,
        "metrics": {k: v for k, v in metrics.items() if k != "rows_computed"},
    })
