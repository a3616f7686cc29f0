"""The worker one array task runs: read its rows, predict in batches, write its chunk + marker.

It needs only the output folder and its index: everything else (model, data, layout) is in the
manifest, so the same function runs under Slurm, in a local process, or in this process.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.inference import inputs, output
from dii_hpc.inference import predictor as mdl

_models: dict[str, Any] = {}  # one load per process when it runs several shards


def _model(manifest: dict[str, Any]) -> Any:
    key = repr(sorted(manifest["model"].items())) + manifest["device"]
    if key not in _models:
        m = mdl.reload(manifest["model"])
        if mdl.is_torch(m):
            m = m.to(manifest["device"]).eval()
        _models[key] = m
    return _models[key]


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    """Batch latency p50/p95/p99 in milliseconds."""
    if not latencies_s:
        return {}
    p = np.percentile(np.asarray(latencies_s) * 1e3, [50, 95, 99])
    return {"latency_p50_ms": float(p[0]), "latency_p95_ms": float(p[1]),
            "latency_p99_ms": float(p[2])}


class _GpuWatch:
    """GPU utilisation samples while the shard runs (only when it runs on a GPU)."""

    def __init__(self, device: str) -> None:
        self.values: list[float] = []
        self._sampler = None
        if device.startswith("cuda"):
            from dii_hpc.launch.sysmetrics import SystemSampler

            def keep(sample: dict[str, float], _step: int) -> None:
                self.values += [v for k, v in sample.items() if k.endswith("_util_percent")]

            self._sampler = SystemSampler(keep, interval_s=0.5).start()

    def stop(self) -> dict[str, float]:
        if self._sampler is None:
            return {}
        self._sampler.stop()
        out = {"gpu_util_percent": float(np.mean(self.values))} if self.values else {}
        import torch

        out["gpu_peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out


def _task_id() -> str | None:
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{task}" if job and task else os.environ.get("SLURM_JOB_ID")


def predict_rows(model: Any, x: np.ndarray, batch: int, device: str,
                 latencies: list[float]) -> dict[str, np.ndarray]:
    """Batches of ``batch`` rows through the model, outputs concatenated and named once.

    The loop does only what a hand-written one does (forward, to numpy, keep) plus two
    clock reads; naming and the argmax "prediction" run once over the whole shard.
    """
    parts: list[Any] = []
    forward, clock = mdl.raw_forward, time.perf_counter
    with mdl.grad_disabled(model):
        for b in range(0, len(x), batch):
            t = clock()
            parts.append(forward(model, x[b:b + batch], device))
            latencies.append(clock() - t)
    if not parts:
        return {}
    return mdl.name_outputs(mdl.concat_outputs(parts))


def run_shard(out_dir: str, index: int) -> dict[str, Any]:
    """Compute shard ``index`` of the predictions in ``out_dir`` unless it is already done."""
    out = Path(out_dir)
    manifest = output.read_manifest(out)
    previous = output.done(out, index)
    if previous is not None:
        return {**previous, "skipped": True}
    threads = _set_threads(int(manifest["threads"]))
    try:
        return _compute(out, manifest, index)
    finally:
        _set_threads(threads)


def _set_threads(n: int | None) -> int | None:
    """torch threads = the task's CPUs (same threads, same bits); returns the previous count."""
    if n is None or not mdl.is_torch_available():
        return None
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def _compute(out: Path, manifest: dict[str, Any], index: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = _model(manifest)
    start, stop = manifest["shards"][index]
    x = inputs.read_rows(manifest["data"], manifest["columns"], start, stop)
    t_read = time.perf_counter()
    gpu = _GpuWatch(manifest["device"])
    latencies: list[float] = []
    try:
        outputs = predict_rows(model, x, int(manifest["batch_size"]), manifest["device"], latencies)
    finally:
        gpu_stats = gpu.stop()
    t_pred = time.perf_counter()
    stats = {"seconds": t_pred - t0, "read_seconds": t_read - t0, "predict_seconds": t_pred - t_read,
             "rows_per_s": (stop - start) / max(t_pred - t0, 1e-9),
             "latencies_ms": [round(v * 1e3, 4) for v in latencies], **percentiles(latencies),
             "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
             **gpu_stats, "host": socket.gethostname(), "task": _task_id(), "pid": os.getpid(),
             "cpus": len(os.sched_getaffinity(0)),
             "errors": 0}
    output.write_shard(out, manifest, index, outputs, stats)
    stats["write_seconds"] = time.perf_counter() - t_pred
    return {**stats, "index": index, "rows": stop - start, "skipped": False}
