"""Background sampler of system metrics (sys/cpu_percent, sys/rss_mb, sys/gpu_*) into a run.

It runs in a daemon thread and only calls ``log_metrics`` (an in-memory append), so the
training loop never waits on it.  GPU figures come from nvidia-smi when it exists.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any


def _gpu_sample() -> dict[str, float]:
    if shutil.which("nvidia-smi") is None:
        return {}
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    sample: dict[str, float] = {}
    for i, line in enumerate(out.strip().splitlines()):
        try:
            util, mem = (float(x) for x in line.split(","))
        except ValueError:
            continue
        sample[f"sys/gpu{i}_util_percent"] = util
        sample[f"sys/gpu{i}_mem_mb"] = mem
    return sample


class SystemSampler:
    """Sample a process tree every ``interval_s``; ``log(metrics, step)`` receives the values."""

    def __init__(self, log: Callable[[dict[str, float], int], Any], interval_s: float = 10.0,
                 pid: int | None = None, gpu: bool = True) -> None:
        import psutil

        self._log, self.interval_s, self._gpu = log, float(interval_s), gpu
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
        out = {"sys/cpu_percent": cpu, "sys/rss_mb": rss / 2**20}
        if self._gpu:
            out.update(_gpu_sample())
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
