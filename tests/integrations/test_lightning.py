"""A tiny Lightning model trained for 2 epochs with DiiLogger beside Lightning's CSVLogger:
the same metrics at the same steps, its hyper-parameters and checkpoints in the run."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning")


def _module() -> Any:
    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(hidden, 1))

        def training_step(self, batch: Any, _i: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _i: int) -> None:
            x, y = batch
            self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

        def test_step(self, batch: Any, _i: int) -> None:
            x, y = batch
            self.log("test/loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Tiny


def _loader(seed: int) -> Any:
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=g)
    y = x.sum(dim=1, keepdim=True)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def _fit(logger: Any, tmp_path: Path) -> Any:
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger

    L.seed_everything(0, verbose=False)
    csv_logger = CSVLogger(str(tmp_path / "csv"), name="tiny")
    trainer = L.Trainer(max_epochs=2, logger=[logger, csv_logger], accelerator="cpu",
                        enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=str(tmp_path), log_every_n_steps=2)
    model = _module()(lr=0.05)
    trainer.fit(model, _loader(0), _loader(1))
    trainer.test(model, _loader(2), verbose=False)  # after fit: the same run, reopened
    return trainer, Path(csv_logger.log_dir) / "metrics.csv"


def _csv_points(path: Path) -> dict[str, list[tuple[int, float]]]:
    points: dict[str, list[tuple[int, float]]] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                if key != "step" and value != "":
                    points.setdefault(key, []).append((int(row["step"]), float(value)))
    return points


def test_two_epochs_land_in_a_run_point_for_point(store_path: Path, tmp_path: Path) -> None:
    from dii_hpc.integrations.lightning import DiiLogger
    from dii_hpc.store.store import Store

    logger = DiiLogger("tiny", tags={"framework": "lightning"})
    trainer, csv_file = _fit(logger, tmp_path)
    store = Store(store_path)
    [record] = store.records("tiny")
    rid = record["run_id"]
    assert record["status"] == "FINISHED" and logger.version == rid
    assert record["params"] == {"lr": 0.05, "hidden": 8}
    assert record["tags"]["framework"] == "lightning"
    theirs = _csv_points(csv_file)
    assert {"train_loss_step", "train_loss_epoch", "val/loss", "epoch"} <= set(theirs)
    assert sorted(store.metric_keys(rid)) == sorted(theirs)
    for key, points in theirs.items():
        ours = [(int(s), v) for s, v, _ in store.metric_array(rid, key).tolist()]
        assert [s for s, _ in ours] == [s for s, _ in points], key
        assert all(math.isclose(a, b, rel_tol=1e-6) for (_, a), (_, b) in zip(ours, points,
                                                                               strict=True))
    assert len(theirs["val/loss"]) == 2  # one validation per epoch
    best = Path(trainer.checkpoint_callback.best_model_path)
    arts = store.artifacts(rid)
    assert list(arts) == [f"checkpoints/{best.name}"]
    assert Path(arts[f"checkpoints/{best.name}"]["path"]).read_bytes() == best.read_bytes()
    assert record["checkpoints"]["best"] == f"checkpoints/{best.name}"
    from dii_hpc.tracking import active

    assert record["attempts"] == 2 and active.top() is None  # test's finalize ended it again


def test_under_an_open_run_the_logger_writes_into_it(store_path: Path, tmp_path: Path) -> None:
    import dii_hpc
    from dii_hpc.integrations.lightning import DiiLogger
    from dii_hpc.store.store import Store

    with dii_hpc.start_run("outer", params={"data": "synthetic"}) as run:
        _fit(DiiLogger("ignored", log_checkpoints=False), tmp_path)
        assert not run.finished  # the logger leaves the run's end to its owner
    store = Store(store_path)
    assert store.experiments() == ["outer"]
    rec = store.run(run.id)
    assert rec["status"] == "FINISHED" and rec["params"] == {"data": "synthetic", "lr": 0.05,
                                                             "hidden": 8}
    assert "val/loss" in store.metric_keys(run.id) and store.artifacts(run.id) == {}


def test_bad_option_and_lazy_import(store_path: Path) -> None:
    from dii_hpc.errors import BadInput
    from dii_hpc.integrations.lightning import DiiLogger

    with pytest.raises(BadInput, match="log_checkpoints='best'"):
        DiiLogger("x", log_checkpoints="best")
    code = ("import sys, dii_hpc, dii_hpc.integrations.lightning; "
            "print('lightning' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
