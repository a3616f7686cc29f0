"""`dii-hpc import tensorboard`: event files written by tensorboardX, torch and a TF2-style
scalar tensor, read back point by point with TensorBoard's own EventAccumulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dii_hpc.errors import BadInput
from dii_hpc.interop.tensorboard_import import import_tensorboard
from dii_hpc.store.store import Store
from tests.conftest import tree_snapshot


def _write_logs(logdir: Path) -> None:
    from tensorboardX import SummaryWriter
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    w = SummaryWriter(str(logdir / "tbx"))
    for step in range(10):
        w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("loss/val", 1.3 / (step + 1), step)  # 'loss' is also a folder here
        w.add_scalar("acc", step / 10, step)
    w.add_hparams({"lr": 0.1, "optimizer": "adam", "layers": 3}, {"hparam/acc": 0.9})
    w.close()
    t = TorchWriter(str(logdir / "torch" / "version_0"))
    for step in range(0, 100, 10):
        t.add_scalar("train/loss", 2.0 / (step + 1), step)
    t.close()
    (logdir / "torch" / "version_0" / "hparams.yaml").write_text("lr: 0.003\nbatch: 64\n")
    _tf2_scalars(logdir / "tf2", {"epoch_loss": [0.9, 0.5, 0.25], "acc (top-1)": [0.5]})


def _tf2_scalars(folder: Path, series: dict[str, list[float]]) -> None:
    """What tf.summary.scalar writes in TF2: a scalar tensor of the 'scalars' plugin."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(str(folder))
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    for tag, values in series.items():
        for step, value in enumerate(values):
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(
                tag=tag, metadata=meta, tensor=tensor_util.make_tensor_proto(np.float32(value)))])
            writer.add_event(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary))
    writer.close()


def _accumulated(folder: Path) -> dict[str, np.ndarray]:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {t: np.array([(e.step, e.value, e.wall_time) for e in acc.Scalars(t)])
            for t in acc.Tags()["scalars"]}


@pytest.fixture()
def logdir(tmp_path: Path) -> Path:
    root = tmp_path / "lightning_logs"
    _write_logs(root)
    return root


def _runs(store: Store) -> dict[str, dict[str, Any]]:
    return {r["tags"]["name"]: r for r in store.records()}


def test_every_scalar_arrives_with_its_step_and_wall_time(logdir: Path, store_path: Path) -> None:
    store = Store(store_path)
    out = import_tensorboard(store, logdir)
    assert out.created == 3 and store.experiments() == ["lightning_logs"]
    assert out.renamed == {"loss": "loss/value", "acc (top-1)": "acc _top-1_"}
    runs = _runs(store)
    assert sorted(runs) == ["tbx", "tf2", "torch/version_0"]
    tbx = runs["tbx"]
    theirs = _accumulated(logdir / "tbx")
    for tag, key in (("loss", "loss/value"), ("loss/val", "loss/val"), ("acc", "acc")):
        np.testing.assert_array_equal(store.metric_array(tbx["run_id"], key), theirs[tag])
        assert store.metric_array(tbx["run_id"], key)[:, 1].tolist() == \
            [float(np.float32(v)) for v in theirs[tag][:, 1]]
    assert tbx["params"] == {"lr": 0.1, "optimizer": "adam", "layers": 3}
    assert store.metric_array(tbx["run_id"], "hparam/acc")[:, 1].tolist() == [pytest.approx(0.9)]
    torch_run = runs["torch/version_0"]
    np.testing.assert_array_equal(store.metric_array(torch_run["run_id"], "train/loss"),
                                  _accumulated(logdir / "torch" / "version_0")["train/loss"])
    assert torch_run["params"] == {"lr": 0.003, "batch": 64}
    tf2 = store.metric_array(runs["tf2"]["run_id"], "epoch_loss")
    assert tf2.tolist() == [[0, 0.8999999761581421, 1.7e9], [1, 0.5, 1.7e9 + 1],
                            [2, 0.25, 1.7e9 + 2]]
    assert store.metric_array(runs["tf2"]["run_id"], "acc _top-1_")[:, 1].tolist() == [0.5]
    assert runs["tf2"]["start_time"] == 1.7e9 and runs["tf2"]["end_time"] == 1.7e9 + 2


def test_a_second_import_adds_only_what_training_wrote_since(logdir: Path,
                                                             store_path: Path) -> None:
    import_tensorboard(Store(store_path), logdir, experiment="tb")
    before = tree_snapshot(store_path)
    again = import_tensorboard(Store(store_path), logdir, experiment="tb")
    assert (again.created, again.updated, again.points) == (0, 0, 0)
    assert tree_snapshot(store_path) == before
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(logdir / "torch" / "version_0"))  # training went on: a new file
    for step in range(100, 130, 10):
        w.add_scalar("train/loss", 0.01, step)
    w.close()
    more = import_tensorboard(Store(store_path), logdir, experiment="tb")
    assert (more.created, more.updated, more.points) == (0, 1, 3)
    rid = _runs(Store(store_path))["torch/version_0"]["run_id"]
    assert Store(store_path).metric_array(rid, "train/loss")[:, 0].tolist() == \
        list(range(0, 130, 10))


def test_a_folder_without_event_files_is_refused(tmp_path: Path, store_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(BadInput, match="is not a TensorBoard log folder"):
        import_tensorboard(Store(store_path), tmp_path / "empty")
    with pytest.raises(BadInput, match="does not exist"):
        import_tensorboard(Store(store_path), tmp_path / "nowhere")
    assert not store_path.exists()
