"""The DDP digits example: two ranks learn what one process learns; a checkpoint resumes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.config import from_dict
from dii_hpc.examples.digits import Digits
from dii_hpc.examples.digits_ddp import DDPCNN
from dii_hpc.launch.submit import submit, wait_local
from dii_hpc.store.store import Store

EPOCHS = 5
PARAMS = {"lr": 0.003, "epochs": EPOCHS, "seed": 0, "batch_size": 64}


class _Log:
    """A run stand-in that keeps what rank 0 logs (and can checkpoint the model mid-way)."""

    def __init__(self, model: DDPCNN | None = None, at: int = -1) -> None:
        self.steps: list[int] = []
        self.model, self.at, self.state = model, at, None
        self.dir = None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.steps.append(step)
        if step == self.at and self.model is not None:
            self.state = self.model.checkpoint()

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.single = {**getattr(self, "single", {}), key: value}


def test_two_local_ranks_train_like_one_process(store_path: Path, tmp_path: Path) -> None:
    alone = DDPCNN().train_function(Digits().get_dataset(), None, out_dir=str(tmp_path), **PARAMS)
    raw = {"experiment": "ddp", "models": {"cnn": {"class": "dii_hpc.examples.digits_ddp:DDPCNN"}},
           "datasets": {"d": {"class": "dii_hpc.examples.digits:Digits"}}, "params": PARAMS,
           "resources": {"tasks_per_node": 2, "time": "10", "sys_metrics_s": 0.5}}
    store = Store(store_path)
    res = submit(from_dict(raw), store, "local")
    wait_local(res.submission_id)
    (rec,) = store.records("ddp")
    assert rec["status"] == "FINISHED", rec["error"]
    assert rec["launch"]["world_size"] == 2 and rec["launch"]["nodes"]
    assert abs(rec["metrics"]["val_acc"]["last"] - alone["val_acc"]) <= 0.02
    steps = store.metric_array(rec["run_id"], "train_loss")[:, 0]
    assert steps.tolist() == list(range(EPOCHS))  # each epoch once: rank 0 alone logged it
    logs = store.run_dir(rec["run_id"]) / "logs"
    assert {p.name for p in logs.iterdir()} >= {"rank0.out", "rank1.err", "stdout.log"}
    assert any(k.startswith("sys/") and k.count("/") == 2 for k in store.metric_keys(rec["run_id"]))


def test_checkpoint_resumes_at_the_next_epoch(tmp_path: Path) -> None:
    data = Digits().get_dataset()
    model = DDPCNN()
    first = _Log(model, at=1)
    model.train_function(data, first, out_dir=str(tmp_path), **{**PARAMS, "epochs": 3})
    state: Any = first.state
    assert state is not None and state["epoch"] == 2
    again = DDPCNN()
    again.restore(state)
    second = _Log()
    out = again.train_function(data, second, out_dir=str(tmp_path), **{**PARAMS, "epochs": 3})
    assert second.steps == [2] and out["val_acc"] > 0.5
    assert second.single == {"resumed_epoch": 2.0} and not hasattr(first, "single")
    assert np.isfinite(out["val_loss"])
