"""System sampler: process-tree CPU/RSS; GPU figures from NVML when it is there, none otherwise."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from dii_hpc.launch import sysmetrics
from dii_hpc.launch.sysmetrics import SystemSampler, _gpu_sample


def test_sampler_thread_logs_cpu_and_rss() -> None:
    got: list[tuple[dict[str, float], int]] = []
    sampler = SystemSampler(lambda m, s: got.append((m, s)), interval_s=0.05, gpu=False).start()
    end = time.time() + 30  # the first samples may take a while on a loaded machine
    while time.time() < end and len(got) < 3:
        sum(range(10_000))
    sampler.stop()
    assert len(got) >= 3 and [s for _, s in got] == list(range(len(got)))
    assert all(m["sys/rss_mb"] > 10 and m["sys/cpu_percent"] >= 0 for m, _ in got)
    off = SystemSampler(lambda m, s: got.append((m, s)), interval_s=0).start()
    off.stop()


class _FakeNvml:
    """The four NVML calls the sampler makes, for two GPUs (no driver on a test machine)."""

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        pass

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802
        return i

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(gpu=(87, 3)[h])

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:  # noqa: N802
        return SimpleNamespace(used=(40536, 12)[h] * 2**20)


def test_gpu_figures_from_nvml_for_the_visible_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sysmetrics._NVML, "lib", _FakeNvml())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert _gpu_sample() == {"sys/gpu0_util_percent": 87.0, "sys/gpu0_mem_mb": 40536.0,
                             "sys/gpu1_util_percent": 3.0, "sys/gpu1_mem_mb": 12.0}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # what Slurm gives a task with one GPU
    assert _gpu_sample("sys/node2/") == {"sys/node2/gpu1_util_percent": 3.0,
                                         "sys/node2/gpu1_mem_mb": 12.0}


def test_no_nvml_means_no_gpu_figures_and_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sysmetrics._NVML, "lib", None)
    assert _gpu_sample() == {}
    sampler = SystemSampler(lambda m, s: None, interval_s=1, prefix="sys/node1/")
    assert set(sampler.sample()) == {"sys/node1/cpu_percent", "sys/node1/rss_mb"}
