"""Run every benchmark and gather their sections into reports/benchmarks.md.

Each bench_*.py writes reports/benchmarks_<area>.md; this script runs them one after the
other (never in parallel: they time things) and concatenates the sections.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import REPORTS, machine  # noqa: E402


def main() -> None:
    only = set(sys.argv[1:])
    for bench in sorted(HERE.glob("bench_*.py")):
        if only and bench.stem.removeprefix("bench_") not in only:
            continue
        print(f"== {bench.name}", flush=True)
        subprocess.run([sys.executable, str(bench)], check=False)
    gather()


def gather() -> Path:
    parts = [
        "# Benchmarks",
        "",
        "Figures named in the issues, each measured in one process side by side with the "
        "alternative a user would pick. Regenerate with `make bench` "
        "(`.venv/bin/python benchmarks/run_all.py [area ...]`).",
        "",
        f"Gathered {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine()}.",
        "",
    ]
    for section in sorted(REPORTS.glob("benchmarks_*.md")):
        parts += [section.read_text().strip(), ""]
    out = REPORTS / "benchmarks.md"
    out.write_text("\n".join(parts))
    print("wrote", out)
    return out


if __name__ == "__main__":
    main()
