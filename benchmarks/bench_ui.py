"""`dii-hpc ui` on a 100,000-run experiment (issue #28 items 1 and 2).

Starts a real `dii-hpc ui` on a store with one experiment of N finished runs (the store of
bench_site_scale.py: 5 params, 3 metrics each) and one run with a 10,000-point history, and
times over HTTP (one keep-alive connection, as a browser holds one):

- a filtered, sorted page of 50 runs (`/api/experiments/sweep/runs?filter=&sort=&limit=50`),
  and an unfiltered one sorted by a metric;
- the 10,000-point history, downsampled to a 600-px chart (the default) and in full.

Beside them, what a user would do without the server: `dii-hpc runs list --filter --sort
--limit 50` (a new process, as typed), the same through the library in one process
(`Store.runs` + filter + sort), and, for the history, the run's page of the static site
rendered on demand (`report.serve.render`, what `report build` writes for that run).
The store is compacted first (its summary file is what a long-lived store has; it is the
CLI's best case). Times are the median of ``--repeat`` requests after one warm-up; the server's
first request (its cache filled from the store) is reported apart.

    .venv/bin/python benchmarks/bench_ui.py [--runs 100000] [--store DIR] [--repeat 15]

``--store DIR`` reuses (or makes, once) the store there. Writes reports/benchmarks_ui.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import write_section  # noqa: E402
from bench_site_scale import EXPERIMENT, make_store  # noqa: E402

DII = str(Path(sys.executable).with_name("dii-hpc"))
FILTER = "params.lr < 0.01 and metrics.val_acc > 0.5"
SORT = "metrics.val_acc"
HISTORY = 10_000


def prepare(store_dir: Path, runs: int) -> str:
    """The store (made once), compacted, with one long run; returns the long run's id."""
    import numpy as np

    import dii_hpc
    from dii_hpc.store.store import Store
    from dii_hpc.store.summary import compact

    if not (store_dir / "experiments" / EXPERIMENT).is_dir():
        make_store(store_dir, runs, steps=20)
    store = Store(store_dir)
    compact(store, EXPERIMENT)
    if "history" in store.experiments():
        return str(store.runs("history")["run_id"].iloc[0])
    values = 1.0 / (1 + np.arange(HISTORY)) + 0.01 * np.sin(np.arange(HISTORY))
    with dii_hpc.start_run("history", params={"lr": 0.1}, store=store) as run:
        for step, value in enumerate(values):
            run.log_metric("loss", float(value), step=step)
    return run.id


class Client:
    """One keep-alive HTTP connection to the server, with its token."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.token = parts.query.removeprefix("token=")
        self.conn = http.client.HTTPConnection("127.0.0.1", parts.port or 0, timeout=600)
        self.conn.connect()  # no Nagle, as browsers: else a delayed ACK adds ~40 ms per answer
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path, headers={"Authorization": f"token {self.token}"})
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {body[:200]!r}")
        return body


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls after one warm-up, and the last result."""
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def once(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(store_dir: Path, long_id: str, repeat: int) -> dict[str, Any]:
    proc = subprocess.Popen([DII, "ui", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ,
                                                             "DII_HPC_STORE": str(store_dir)})
    try:
        assert proc.stdout is not None
        client = Client(proc.stdout.readline().decode().strip())
        page = (f"/api/experiments/{EXPERIMENT}/runs?limit=50&sort={SORT}"
                f"&filter={quote(FILTER)}")
        plain = f"/api/experiments/{EXPERIMENT}/runs?limit=50&sort={SORT}"
        hist = f"/api/runs/{long_id}/metrics/loss"
        r: dict[str, Any] = {}
        r["first"], _ = once(lambda: client.get(page))
        r["page"], body = timed(lambda: client.get(page), repeat)
        r["matched"] = json.loads(body)["matched"]
        r["page_plain"], _ = timed(lambda: client.get(plain), repeat)
        r["hist"], body = timed(lambda: client.get(hist), repeat)
        r["hist_points"] = json.loads(body)["points"]
        r["hist_full"], body = timed(lambda: client.get(hist + "?full=1"), repeat)
        assert json.loads(body)["points"] == HISTORY
        return r
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def baselines(store_dir: Path, long_id: str, repeat: int) -> dict[str, Any]:
    from dii_hpc.report import serve
    from dii_hpc.store.query import apply_filter, sort_runs
    from dii_hpc.store.store import Store

    store = Store(store_dir)
    env = {**os.environ, "DII_HPC_STORE": str(store_dir)}
    cli = [DII, "runs", "list", "-e", EXPERIMENT, "--filter", FILTER, "--sort", SORT,
           "--limit", "50", "--format", "json"]
    r: dict[str, Any] = {}
    r["cli"] = min(once(lambda: subprocess.run(cli, env=env, check=True,
                                               capture_output=True))[0] for _ in range(2))
    r["library"], _ = timed(lambda: sort_runs(apply_filter(store.runs(EXPERIMENT), FILTER),
                                              SORT).head(50), 3)
    r["run_page"], _ = timed(lambda: serve.render(store, f"runs/{long_id}.html"),
                             max(3, repeat // 3))
    return r


def report(n: int, ui: dict[str, Any], base: dict[str, Any]) -> list[str]:
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    x = lambda a, b: f"{a / b:.0f}x" if a >= 10 * b else f"{a / b:.1f}x"  # noqa: E731
    return [
        f"## `dii-hpc ui`: {n:,}-run experiment (`benchmarks/bench_ui.py`)", "",
        "Over HTTP to a real `dii-hpc ui` (one keep-alive connection, TCP_NODELAY as browsers set "
        "it; median after a warm-up); ratio: the other way's time over the server's. "
        f"Filter `{FILTER}` ({ui['matched']:,} runs match), sort `{SORT}`.", "",
        "| request | `dii-hpc ui` | target | what a user would do otherwise | ratio |",
        "|---|---|---|---|---|",
        f"| filtered, sorted page of 50 runs | {ms(ui['page'])} | <= 200 ms | "
        f"`runs list --filter --sort --limit 50`: {base['cli']:.2f} s | {x(base['cli'], ui['page'])} |",
        f"| same, in one Python process | | | `Store.runs` + filter + sort: "
        f"{base['library']:.2f} s | {x(base['library'], ui['page'])} |",
        f"| page of 50 sorted by a metric, no filter | {ms(ui['page_plain'])} | | | |",
        f"| {HISTORY:,}-point history, for a 600-px chart ({ui['hist_points']} points, "
        f"min/max per bucket) | {ms(ui['hist'])} | <= 100 ms | the run's static page "
        f"rendered (`report.serve.render`): {ms(base['run_page'])} | "
        f"{x(base['run_page'], ui['hist'])} |",
        f"| {HISTORY:,}-point history, full (steps, values, times) | {ms(ui['hist_full'])} | | | |",
        "", f"The server's first page after start (its runs table read from the store, "
        f"then kept fresh by stats): {ui['first']:.2f} s.", ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        store_dir = args.store or Path(tmp) / "store"
        long_id = prepare(store_dir, args.runs)
        ui = measure(store_dir, long_id, args.repeat)
        base = baselines(store_dir, long_id, args.repeat)
    lines = report(args.runs, ui, base)
    print("\n".join(lines))
    print(write_section("ui", lines))


if __name__ == "__main__":
    main()
