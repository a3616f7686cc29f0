"""A store where runs differ only by seed (two groups of three), plus an archived run, a
note and a tag: what the seed-group, parallel-coordinates and annotation views need."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def build_seed_store(root: Path) -> dict[str, Any]:
    import dii_hpc
    from dii_hpc.store.annotations import annotate
    from dii_hpc.store.store import Store

    store = Store(root)
    ids: dict[str, Any] = {"groups": {0.1: [], 0.01: []}}
    for lr in (0.1, 0.01):
        for seed in (0, 1, 2):
            params = {"lr": lr, "depth": 3, "optimizer": "adam" if lr > 0.05 else "sgd",
                      "seed": seed}
            with dii_hpc.start_run("seeds", params=params, store=store) as run:
                for step in range(20):
                    loss = 2.0 * math.exp(-lr * 10 * step) + 0.05 * seed
                    run.log_metrics({"loss": loss, "acc": 1 - loss / 2.5}, step=step)
            ids["groups"][lr].append(run.id)
    with dii_hpc.start_run("seeds", params={"lr": 0.001, "depth": 5, "optimizer": "sgd",
                                            "seed": 0}, store=store) as run:
        for step in range(20):
            run.log_metrics({"loss": 3.0, "acc": 0.1}, step=step)
    ids["archived"] = run.id
    annotate(store, run.id, archived=True, note="bad data split")
    annotate(store, ids["groups"][0.1][0], note="baseline <b>for the paper</b>",
             tags={"paper": "fig3"})
    return ids
