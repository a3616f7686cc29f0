"""The static site at 100,000 runs (issue #28 item 3).

Builds a store with one experiment of N finished runs (5 params, 3 metrics each with a short
history), then measures `report build` cold, the site's size, and how soon headless Chromium
makes the experiment page (first rows drawn and a sort done) and the index interactive.

    .venv/bin/python benchmarks/bench_site_scale.py [--runs 100000 10000] [--steps 20] [--keep DIR]

The store is written fast: run records through the store's bulk API (``Store.create_runs``,
one sync for the batch), then each finished record and its metric arrays in the store's own
format (the array metadata zarr made for ``MetricWriter``, chunks encoded with its codec)
without an fsync per file and one ``os.sync()`` at the end; it is not part of the figures.
The page-open times are taken in headless Chromium (tests/report/cdp.py): from navigation to
the first rows drawn (``body[data-ready]``, set by site/experiment.js) and to a sort over every
run done (all data pages loaded).  ``--baseline DIR``: a checkout of the renderer before #28
(``git worktree add DIR 6047499``), measured on the same store in a subprocess, for the ratios.
Writes reports/benchmarks_site_scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import write_section  # noqa: E402

EXPERIMENT = "sweep"
METRICS = ("loss", "acc", "val_acc")
BATCH = 5000
# Before #28 (issue's figures, same kind of store): build time, experiment page, site.
BEFORE = {10_000: ("17.6 s", "9.7 MB", "~19 s to draw"),
          100_000: ("2 min 42 s", "97 MB", "not drawn after 180 s (site 502 MB)")}


def _params(i: int) -> dict[str, Any]:
    """600 configurations, each repeated with a new seed (seed groups of N/600 runs)."""
    c = i % 600
    return {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5, 1e-5][c % 10],
            "depth": 2 + (c // 10) % 4, "optimizer": ("sgd", "adam", "rmsprop")[(c // 40) % 3],
            "width": 32 * (1 + (c // 120) % 5), "seed": i // 600}


def _history(i: int, params: dict[str, Any], steps: int) -> dict[str, Any]:
    import numpy as np

    step = np.arange(steps, dtype="float64")
    rate = params["lr"] * 30 * (1 + params["depth"] / 10)
    loss = 2.0 / (1 + step * rate) + 0.05 * ((i * 7919) % 101) / 101 + 0.01 * params["depth"]
    return {"loss": loss, "acc": 1 - loss / 2.2, "val_acc": 0.95 - loss / 2.4}


def _templates() -> tuple[bytes, dict[str, Any], Any]:
    """The group zarr.json, the array metadata and codec MetricWriter's arrays use."""
    from dii_hpc.store.appender import _templates as made_by_zarr
    from dii_hpc.store.zstore import chunk_codec

    made = made_by_zarr()
    meta = json.loads(made["array"])
    return made["group"], meta, chunk_codec(meta)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _finish(run_dir: Path, record: dict[str, Any], i: int, steps: int, tpl: Any) -> None:
    """The record a finished run leaves and its metric arrays, in the store's formats."""
    import numpy as np

    from dii_hpc.store.bulk import compact
    from dii_hpc.store.metrics import METRICS_DIR, summarize

    group, meta, codec = tpl
    crow = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
    t0 = 1.7e9 + i * 3.0
    root = run_dir / METRICS_DIR
    root.mkdir()
    _write(root / "zarr.json", group)
    summary = {}
    for key, values in _history(i, record["params"], steps).items():
        rows = np.column_stack([np.arange(steps, dtype="float64"), values,
                                t0 + np.arange(steps, dtype="float64")])
        full = np.full((crow, 3), np.nan)
        full[:steps] = rows
        (root / key / "c" / "0").mkdir(parents=True)
        _write(root / key / "c" / "0" / "0", codec.encode(full))
        _write(root / key / "zarr.json", json.dumps({**meta, "shape": [steps, 3]}).encode())
        summary[key] = summarize(rows)
    record.update(status="FINISHED", start_time=t0, end_time=t0 + steps, metrics=summary)
    _write(run_dir / "run.json", compact(record))


def make_store(path: Path, runs: int, steps: int) -> None:
    """``runs`` finished runs of one experiment, written in batches."""
    from dii_hpc.store import records
    from dii_hpc.store.store import Store

    store = Store(path)
    tpl = _templates()
    t0 = time.perf_counter()
    for start in range(0, runs, BATCH):
        idx = range(start, min(runs, start + BATCH))
        ids = store.create_runs(EXPERIMENT, [_params(i) for i in idx], status="RUNNING")
        for i, rid in zip(idx, ids, strict=True):
            rdir = store.run_dir(rid)
            _finish(rdir, records.read_record(rdir), i, steps, tpl)
        print(f"  store: {idx.stop:,} runs ({time.perf_counter() - t0:.0f} s)", flush=True)
    os.sync()




# --------------------------------------------------------------------------- measuring
def site_bytes(out: Path) -> int:
    """Bytes the site takes (every file, the build's own state included)."""
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def _build(store_dir: Path, out: Path) -> float:
    from dii_hpc.report import build_site
    from dii_hpc.store.store import Store

    t0 = time.perf_counter()
    build_site(Store(store_dir), out=out, progress=False)
    return time.perf_counter() - t0


def _add_run(store_dir: Path) -> None:
    import dii_hpc
    from dii_hpc.store.store import Store

    with dii_hpc.start_run(EXPERIMENT, params=_params(10**7), store=Store(store_dir)) as run:
        for step in range(20):
            run.log_metrics({"loss": 1.0 / (step + 1), "acc": 0.5, "val_acc": 0.4}, step=step)


def open_times(page: Path, timeout: float, sort: bool) -> dict[str, float | None]:
    """Seconds from navigation to: load event, first rows drawn, a sort over every run done
    (None: not within ``timeout``)."""
    from tests.report.cdp import Browser

    with tempfile.TemporaryDirectory() as profile:
        b = Browser(Path(profile))
        try:
            t0 = time.perf_counter()
            out: dict[str, float | None] = {"load": None, "rows": None, "sort": None}
            try:
                b.open(page.as_uri(), timeout=timeout)
                out["load"] = time.perf_counter() - t0
                if sort:
                    b.until("document.body.dataset.ready === '1'", timeout)
                    out["rows"] = time.perf_counter() - t0
                    b.eval("document.querySelector('#runs thead th[data-col=\"metrics.val_acc\"]')"
                           ".click()")
                    b.until("+document.querySelector('#runs tbody').dataset.view > 1", timeout)
                    out["sort"] = time.perf_counter() - t0
            except TimeoutError:
                pass
            return out
        finally:
            b.close()


def _baseline(checkout: Path, store_dir: Path, out: Path, timeout: float) -> dict[str, Any]:
    """The renderer before #28 on the same store (its own process, started in the checkout:
    its dii_hpc comes first on the path)."""
    import subprocess

    code = ("import sys,time; from dii_hpc.report import build_site; "
            "from dii_hpc.store.store import Store; t=time.perf_counter(); "
            "build_site(Store(sys.argv[1]), out=sys.argv[2], progress=False); "
            "print(time.perf_counter()-t)")
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "-c", code, str(store_dir), str(out)], env=env,
                          cwd=checkout, capture_output=True, text=True, check=True)
    seconds = float(done.stdout.strip().splitlines()[-1])
    again = subprocess.run([sys.executable, "-c", code, str(store_dir), str(out)], env=env,
                           cwd=checkout, capture_output=True, text=True, check=True)
    page = out / "experiments" / f"{EXPERIMENT}.html"
    return {"build": seconds, "again": float(again.stdout.strip().splitlines()[-1]),
            "size": site_bytes(out), "page": page.stat().st_size,
            "open": open_times(page, timeout, sort=False)["load"]}  # its table: all in the HTML


def _fmt_s(value: float | None, timeout: float) -> str:
    return f"{value:.2f} s" if value is not None else f"> {timeout:.0f} s"


def _ratio(before: float | None, after: float | None, timeout: float) -> str:
    if after is None:
        return "-"
    if before is None:
        return f"> {timeout / after:.0f}x faster"
    return f"{before / after:.1f}x"


def measure(n: int, steps: int, work: Path, baseline: Path | None, timeout: float,
            store_dir: Path | None) -> list[str]:
    if store_dir is None:
        store_dir = work / f"store-{n}"
        t0 = time.perf_counter()
        make_store(store_dir, n, steps)
        print(f"store of {n:,} runs made in {time.perf_counter() - t0:.0f} s", flush=True)
    out = work / f"site-{n}"
    shutil.rmtree(out, ignore_errors=True)  # cold: no site, no build state
    cold = _build(store_dir, out)
    print(f"cold build {cold:.1f} s", flush=True)
    size = site_bytes(out)
    page = out / "experiments" / f"{EXPERIMENT}.html"
    opened = open_times(page, timeout, sort=True)
    index = open_times(out / "index.html", timeout, sort=False)
    print(f"open {opened} index {index}", flush=True)
    again = _build(store_dir, out)
    _add_run(store_dir)
    one = _build(store_dir, out)
    before = (_baseline(baseline, store_dir, work / f"old-site-{n}", timeout)
              if baseline else None)
    b = before or {}
    rows = [
        ("`report build`, cold", _fmt_s(cold, timeout), "<= 60 s",
         _ratio(b.get("build"), cold, timeout) if before else "-"),
        ("site on disk", f"{size / 1e6:.1f} MB", "<= 60 MB",
         f"{b['size'] / size:.1f}x smaller" if before else "-"),
        ("experiment page (HTML)", f"{page.stat().st_size / 1e3:.0f} kB", "-",
         f"{b['page'] / page.stat().st_size:.0f}x smaller" if before else "-"),
        ("experiment page: first rows drawn (Chromium)", _fmt_s(opened["rows"], timeout),
         "<= 3 s", _ratio(b.get("open"), opened["rows"], timeout) if before else "-"),
        ("experiment page: sorted by a metric over every run", _fmt_s(opened["sort"], timeout),
         "-", "-"),
        ("index page loaded (Chromium)", _fmt_s(index["load"], timeout), "<= 1 s", "-"),
        ("rebuild, no change", _fmt_s(again, timeout), "-",
         _ratio(b.get("again"), again, timeout) if before else "-"),
        ("rebuild after 1 new run", _fmt_s(one, timeout), "-", "-"),
    ]
    lines = [f"### {n:,} runs (5 params, 3 metrics x {steps} steps)", "",
             "| measure | dii-hpc | target | against the renderer before #28 |",
             "|---|---|---|---|", *[f"| {a} | {v} | {t} | {r} |" for a, v, t, r in rows], ""]
    if before:
        lines += [f"Before #28 on the same store: build {_fmt_s(b['build'], timeout)} (again, "
                  f"no change: {_fmt_s(b['again'], timeout)}), site "
                  f"{b['size'] / 1e6:.0f} MB, experiment page {b['page'] / 1e6:.1f} MB, loaded "
                  f"in Chromium in {_fmt_s(b['open'], timeout)}.", ""]
    elif n in BEFORE:
        build, page_mb, drawn = BEFORE[n]
        lines += [f"Before #28 (issue #28's figures, another machine): build {build}, "
                  f"experiment page {page_mb}, Chromium {drawn}.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[100_000])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    ap.add_argument("--store", type=Path, help="an existing store made by this script")
    ap.add_argument("--baseline", type=Path, help="a checkout of the renderer before #28")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dii-site-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    lines = ["## Site at scale: `report build` and the experiment page at 100,000 runs (#28)",
             "", "`benchmarks/bench_site_scale.py`; the store on local disk; Chromium headless.",
             ""]
    try:
        for n in args.runs:
            lines += measure(n, args.steps, work, args.baseline, args.timeout, args.store)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))
    print("wrote", write_section("site_scale", lines))


if __name__ == "__main__":
    if "--make-only" in sys.argv:
        make_store(Path(sys.argv[-1]), int(sys.argv[-2]), 20)
    else:
        main()
