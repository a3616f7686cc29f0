"""Background sampler of system metrics (sys/cpu_percent, sys/rss_mb, sys/gpu*) into a run.

It runs in a daemon thread and only calls ``log_metrics`` (an in-memory append), so the
training loop never waits on it.  A task of several nodes samples each node under
``sys/<node>/``.  GPU figures come from NVML (`nvidia-ml-py`, imported when a GPU sample is
first taken): a machine without the library or the driver gives none, and no error.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

_NVML: dict[str, Any] = {}


def _nvml() -> Any:
    """pynvml, initialised once per process; None without the library or a driver."""
    if "lib" not in _NVML:
        _NVML["lib"] = None
        with contextlib.suppress(Exception):  # ImportError, NVMLError_LibraryNotFound, ...
            import pynvml

            pynvml.nvmlInit()
            _NVML["lib"] = pynvml
    return _NVML["lib"]


def _visible(count: int) -> list[int]:
    """NVML indices of the GPUs this task may use (CUDA_VISIBLE_DEVICES when it lists them)."""
    raw = os.environ.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return list(range(count))
    wanted = [int(x) for x in raw.split(",") if x.strip().isdigit()]
    return [i for i in wanted if i < count]


def _gpu_sample(prefix: str = "sys/") -> dict[str, float]:
    nv = _nvml()
    if nv is None:
        return {}
    sample: dict[str, float] = {}
    try:
        for i in _visible(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(i)
            sample[f"{prefix}gpu{i}_util_percent"] = float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
            sample[f"{prefix}gpu{i}_mem_mb"] = nv.nvmlDeviceGetMemoryInfo(handle).used / 2**20
    except Exception:  # noqa: BLE001 - a GPU that vanished or refuses: no figures, no error
        return sample
    return sample


class SystemSampler:
    """Sample a process tree every ``interval_s``; ``log(metrics, step)`` receives the values."""

    def __init__(self, log: Callable[[dict[str, float], int], Any], interval_s: float = 10.0,
                 pid: int | None = None, gpu: bool = True, prefix: str = "sys/") -> None:
        import psutil

        self._log, self.interval_s, self._gpu, self.prefix = log, float(interval_s), gpu, prefix
        self._proc = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0

    def sample(self) -> dict[str, float]:
        import psutil

        procs = [self._proc]
        with contextlib.suppress(psutil.Error):
            procs += self._proc.children(recursive=True)
        cpu = rss = 0.0
        for p in procs:
            try:
                cpu += p.cpu_percent(None)
                rss += p.memory_info().rss
            except psutil.Error:
                continue
        out = {f"{self.prefix}cpu_percent": cpu, f"{self.prefix}rss_mb": rss / 2**20}
        if self._gpu:
            out.update(_gpu_sample(self.prefix))
        return out

    def _loop(self) -> None:
        self.sample()  # prime cpu_percent (its first reading is always 0)
        while not self._stop.wait(self.interval_s):
            try:
                self._log(self.sample(), self.samples)
                self.samples += 1
            except Exception:  # noqa: BLE001 - sampling must never take the task down
                continue

    def start(self) -> SystemSampler:
        if self.interval_s > 0:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="dii-hpc-sys")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
