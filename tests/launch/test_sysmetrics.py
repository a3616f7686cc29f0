"""System sampler: process-tree CPU/RSS; GPU figures parsed from nvidia-smi when present."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

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


def test_gpu_figures_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '87, 40536'\necho '3, 12'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert _gpu_sample() == {"sys/gpu0_util_percent": 87.0, "sys/gpu0_mem_mb": 40536.0,
                             "sys/gpu1_util_percent": 3.0, "sys/gpu1_mem_mb": 12.0}
