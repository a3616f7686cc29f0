"""`dii-hpc import tensorboard`: TensorBoard log folders into runs, read with TensorBoard's reader.

Every folder holding event files is one run (TensorBoard's own notion, found with its
``io_wrapper``) and is read with its ``EventAccumulator``: scalars (TF1 / tensorboardX /
torch.utils.tensorboard) and scalar tensors of the ``scalars`` plugin (TF2), each point's
step and wall time kept; hyper-parameters from the hparams plugin and from Lightning's
``hparams.yaml``. ``add_hparams`` of tensorboardX and torch writes its hparams (and their
metric) into a sub-folder named by a timestamp; that folder belongs to its parent's run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput
from dii_hpc.interop.ingest import Incoming, Ingest, Outcome, safe_experiment

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

EVENTS_GLOB = "events.out.tfevents.*"


def run_folders(logdir: Path) -> dict[Path, list[Path]]:
    """Run folder -> its folders of event files (itself, then add_hparams sub-folders)."""
    from tensorboard.backend.event_processing import io_wrapper

    found = sorted(Path(p) for p in io_wrapper.GetLogdirSubdirectories(str(logdir)))
    runs: dict[Path, list[Path]] = {}
    for folder in found:
        if folder.parent in runs and _is_timestamp(folder.name):
            runs[folder.parent].append(folder)
        else:
            runs[folder] = [folder]
    return runs


def _is_timestamp(name: str) -> bool:
    try:
        return float(name) > 1e9
    except ValueError:
        return False


def import_tensorboard(store: Store, logdir: str | os.PathLike[str],
                       experiment: str | None = None) -> Outcome:
    """Import every run under ``logdir``; points already imported are not added again."""
    root = Path(logdir).expanduser().absolute()
    if not root.is_dir():
        raise BadInput(f"TensorBoard log folder {str(logdir)!r} does not exist")
    try:
        runs = run_folders(root)
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise BadInput("TensorBoard is not installed: pip install tensorboard") from err
    if not runs:
        raise BadInput(f"{root} is not a TensorBoard log folder (no {EVENTS_GLOB} files in it "
                       "or below it)")
    exp = safe_experiment(experiment or root.name)
    ingest = Ingest(store)
    for run_dir, folders in runs.items():
        ingest.write(read_run(root, run_dir, folders, exp))
    return ingest.outcome


def read_run(root: Path, run_dir: Path, folders: list[Path], experiment: str) -> Incoming:
    metrics: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for folder in folders:
        acc = _load(folder)
        for tag, rows in _scalars(acc).items():
            metrics[tag] = _concat(metrics.get(tag), rows)
        params.update(_hparams(acc))
    params = {**_hparams_yaml(run_dir), **params}
    name = run_dir.relative_to(root).as_posix() if run_dir != root else root.name
    times = [float(r[:, 2].min()) for r in metrics.values() if len(r)]
    ends = [float(r[:, 2].max()) for r in metrics.values() if len(r)]
    return Incoming(source_id=f"tensorboard:{run_dir}", origin=str(root), experiment=experiment,
                    params=params, tags={"name": name}, status="FINISHED",
                    start_time=min(times) if times else None, end_time=max(ends) if ends else None,
                    metrics=metrics)


def _load(folder: Path) -> Any:
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def _scalars(acc: Any) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {}
    tags = acc.Tags()
    for tag in tags.get("scalars", []):
        out[tag] = np.array([(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)],
                            dtype="float64").reshape(-1, 3)
    for tag in tags.get("tensors", []):
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        from tensorboard.util import tensor_util

        out[tag] = np.array([(e.step, float(tensor_util.make_ndarray(e.tensor_proto)), e.wall_time)
                             for e in acc.Tensors(tag)], dtype="float64").reshape(-1, 3)
    return out


def _concat(old: Any, new: Any) -> Any:
    import numpy as np

    rows = new if old is None else np.concatenate([old, new])
    return rows[np.lexsort((rows[:, 2], rows[:, 0]))]


def _hparams(acc: Any) -> dict[str, Any]:
    """Session-start hparams of the hparams plugin, as plain numbers, strings and bools."""
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}
    from tensorboard.plugins.hparams import plugin_data_pb2

    out: dict[str, Any] = {}
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if not data.HasField("session_start_info"):
            continue
        for key, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind in ("number_value", "string_value", "bool_value"):
                number = getattr(value, kind)
                out[key] = int(number) if kind == "number_value" and number.is_integer() else number
    return out


def _hparams_yaml(run_dir: Path) -> dict[str, Any]:
    """Lightning's TensorBoardLogger saves the hyper-parameters beside the events."""
    path = run_dir / "hparams.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError):  # python-object tags Lightning may write: not ours to run
        return {}
    return data if isinstance(data, dict) else {}
