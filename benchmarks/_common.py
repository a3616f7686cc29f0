"""Helpers shared by the benchmarks: timing, machine description, results files."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls: the least disturbed by other processes."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def machine() -> str:
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    cpu = platform.processor() or platform.machine()
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def write_section(name: str, lines: list[str]) -> Path:
    """Write this benchmark's results to reports/benchmarks_<name>.md (merged into benchmarks.md)."""
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / f"benchmarks_{name}.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    path.write_text("\n".join([f"Measured {stamp} on {machine()}.", "", *lines, ""]))
    return path
