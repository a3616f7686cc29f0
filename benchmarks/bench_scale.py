"""Scale figures (issue 9): 10,000-run listing, incremental compaction, merging stores.

    .venv/bin/python benchmarks/bench_scale.py [--quick]

Run records are written exactly as finished runs leave them (status, times, params, metric
summaries); metric arrays are left out because none of these operations reads them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, write_section  # noqa: E402


def fill(store, experiment: str, n: int) -> list[str]:  # noqa: ANN001
    from dii_hpc.store import records

    ids = []
    for r in range(n):
        rid = store.create_run(experiment, params={"lr": 0.1 * (r % 7), "width": r % 5, "seed": r,
                                                   "opt": "sgd", "wd": 0.0}, status="RUNNING")
        rdir = store.run_dir(rid)
        rec = records.read_record(rdir)
        rec.update(status="FINISHED", start_time=time.time() - 60, end_time=time.time(),
                   metrics={k: {"last": 0.5, "min": 0.1, "max": 0.9, "step": 99, "count": 100}
                            for k in ("loss", "acc", "val_acc")})
        records.write_record(rdir, rec)
        ids.append(rid)
    return ids


def main() -> None:
    import dii_hpc
    from dii_hpc.store.merge import merge
    from dii_hpc.store.summary import compact

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    big, new, half = (1000, 100, 500) if args.quick else (10_000, 100, 5000)
    lines = ["## Scale (issue 9)", "", "| measure | result | target |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        store = dii_hpc.Store(Path(d) / "s")
        fill(store, "big", big)
        t0 = time.perf_counter()
        compact(store, "big")
        full = time.perf_counter() - t0
        listing = best_of(lambda: store.runs("big"))
        uncompacted = best_of(lambda: __import__("dii_hpc.store.listing", fromlist=["x"]).fresh_rows(
            store, "big", set()), 1)
        fill(store, "big", new)
        t0 = time.perf_counter()
        res = compact(store, "big")
        incr = time.perf_counter() - t0
        assert res["added"] == new and res["total"] == big + new
        lines += [
            f"| list {big:,} runs after compaction (`Store.runs`) | {listing * 1e3:.0f} ms "
            f"(reading every run.json instead: {uncompacted * 1e3:.0f} ms) | <= 500 ms |",
            f"| compact {big:,} runs from scratch | {full:.2f} s | - |",
            f"| incremental compaction of {new} new runs into a {big:,}-run summary | {incr:.2f} s | <= 2 s |",
        ]
        print("\n".join(lines[-3:]), flush=True)
        a, b = dii_hpc.Store(Path(d) / "a"), dii_hpc.Store(Path(d) / "b")
        fill(a, "exp", half)
        fill(b, "exp", half)
        t0 = time.perf_counter()
        stats = merge(a, b)
        t_merge = time.perf_counter() - t0
        assert len(b.runs("exp")) == 2 * half
        t0 = time.perf_counter()
        again = merge(a, b)
        t_again = time.perf_counter() - t0
        lines += [f"| merge two {half:,}-run stores | {t_merge:.1f} s ({stats['runs_copied']:,} runs "
                  f"copied); merging again {t_again:.1f} s ({again['runs_skipped']:,} skipped, "
                  f"0 duplicated) | reported |"]
        print(lines[-1], flush=True)
    if not args.quick:
        print("wrote", write_section("scale", lines))


if __name__ == "__main__":
    main()
