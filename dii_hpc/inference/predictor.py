"""Loading the model a prediction job runs: `module:callable` (+ weights from a training run).

The callable takes no arguments and returns a torch module or any object with ``predict(x)``.
Its identity (spec, training run, weights sha256) goes into the output manifest, which is how a
rerun knows the predictions already in a folder came from this very model.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from dii_hpc.config import refs
from dii_hpc.errors import BadInput, one_line

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store


@runtime_checkable
class Predictor(Protocol):
    """A non-torch model: rows in, predictions (an array, or a dict of named arrays) out."""

    def predict(self, x: np.ndarray) -> Any: ...


@dataclass
class ModelInfo:
    """What identifies a model: stored in the manifest, checked on every rerun."""

    spec: str
    model_run: str | None = None
    artifact: str | None = None
    weights: str | None = None  # blob path of the weights file, when taken from a run
    weights_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        return {"model": self.spec, "model_run": self.model_run, "weights_sha256": self.weights_sha256}


def normalise_spec(spec: str, search: Sequence[str] = ()) -> str:
    """`path/to/file.py:fn` is made absolute (relative to the config's folder, the first of
    ``search``, else the current one), so that array tasks started elsewhere find it;
    `models:/NAME@ALIAS` becomes the version it holds now, so every shard runs the same one."""
    from dii_hpc.registry import uri

    if uri.is_uri(spec):
        return uri.pin(spec, "--model")
    return refs.canonical(spec, "--model", base=Path(search[0]) if search else None)


def build(spec: str, search: Sequence[str] = ()) -> Any:
    """Import and call the factory; any failure is BadInput carrying the model's own message.
    ``search``: folders to find its module in after sys.path (the predict config's)."""
    from dii_hpc.registry import uri

    model = uri.build(normalise_spec(spec, search), "--model", search=search)
    if not (is_torch(model) or isinstance(model, Predictor)):
        raise BadInput(f"--model {spec!r}: returned {type(model).__name__}, "
                       "need a torch.nn.Module or an object with predict(x)")
    return model


def is_torch(model: Any) -> bool:
    if "torch" not in sys.modules:
        return False
    import torch

    return isinstance(model, torch.nn.Module)


def state_sha256(model: Any) -> str | None:
    """A torch module's weights as one hash (names, shapes, bytes): same seed, same hash."""
    if not is_torch(model):
        return None
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update((t.float() if t.dtype == torch.bfloat16 else t).numpy().tobytes())
    return h.hexdigest()


def weights_from_run(store: Store, run_id: str, artifact: str | None) -> tuple[str, str, str]:
    """(artifact name, blob path, sha256) of the weights file a training run logged."""
    from dii_hpc.registry.lineage import weights_artifact

    name, meta = weights_artifact(store.artifacts(run_id), artifact, f"--from-run {run_id}")
    return name, meta["path"], meta["sha256"]


def load_weights(model: Any, path: str, sha256: str | None, where: str) -> None:
    """Put the stored weights into the model; a blob whose hash changed is refused."""
    import torch

    if sha256 is not None:
        from dii_hpc.store.blobs import file_sha256

        actual, _ = file_sha256(path)
        if actual != sha256:
            raise BadInput(f"{where}: weights file {path} has sha256 {actual[:12]}, "
                           f"the run recorded {sha256[:12]}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise BadInput(f"{where}: cannot read weights {path}: {err}") from err
    loader = getattr(model, "load_state_dict", None)
    if not callable(loader):
        raise BadInput(f"{where}: the model has no load_state_dict() for the run's weights")
    try:
        loader(state.get("state_dict", state) if isinstance(state, dict) else state)
    except Exception as err:  # noqa: BLE001
        raise BadInput(f"{where}: weights do not fit the model: {one_line(err)}") from err


def load(spec: str, store: Store | None = None, from_run: str | None = None,
         artifact: str | None = None, search: Sequence[str] = ()) -> tuple[Any, ModelInfo]:
    """Build the model, load a run's weights when asked; returns (model, identity)."""
    from dii_hpc.registry import uri

    spec = normalise_spec(spec, search)
    model = build(spec, search)
    info = ModelInfo(spec=spec)
    if uri.is_uri(spec):  # the version's loader put its weights in; record whose they are
        if from_run:
            raise BadInput(f"--from-run {from_run}: {spec} is a registered version that "
                           "brings its own weights; drop --from-run")
        record = uri.resolve(spec, "--model", store)
        info.model_run, info.artifact = record["run_id"], record["weights"]["artifact"]
        info.weights_sha256 = record["weights"]["sha256"]
    elif from_run:
        if store is None:
            from dii_hpc.store.store import Store

            store = Store()  # $DII_HPC_STORE, as everywhere a store is not given
        store.run(from_run)  # NotFound with suggestions for a mistyped id
        info.model_run = from_run
        info.artifact, info.weights, info.weights_sha256 = weights_from_run(store, from_run, artifact)
        load_weights(model, info.weights, info.weights_sha256, f"--from-run {from_run}")
    else:
        info.weights_sha256 = state_sha256(model)
    return model, info


def reload(info: dict[str, Any]) -> Any:
    """In an array task: the same model again, from the manifest's record."""
    model = build(info["model"], info.get("search") or ())
    if info.get("weights"):
        load_weights(model, info["weights"], info.get("weights_sha256"), f"run {info['model_run']}")
    return model


def input_spec(model: Any) -> tuple[list[str] | None, int | None]:
    """(column names, input width) the model declares or its first layer implies."""
    cols = getattr(model, "input_columns", None) or getattr(model, "feature_names_in_", None)
    if cols is not None:
        cols = [str(c) for c in cols]
        return cols, len(cols)
    if is_torch(model):
        for m in model.modules():
            width = getattr(m, "in_features", None)
            if isinstance(width, int):
                return None, width
    return None, None


def forward(model: Any, x: np.ndarray, device: str = "cpu") -> dict[str, np.ndarray]:
    """One batch through the model: named output arrays (see ``name_outputs``)."""
    with grad_disabled(model):
        return name_outputs(raw_forward(model, x, device))


def grad_disabled(model: Any) -> Any:
    """``torch.no_grad()`` for a torch model: entered once around a whole loop of batches.

    Not ``inference_mode``: measured here it made the MLP demo's loop ~10% slower.
    """
    if is_torch(model):
        import torch

        return torch.no_grad()
    import contextlib

    return contextlib.nullcontext()


def raw_forward(model: Any, x: np.ndarray, device: str = "cpu") -> Any:
    """One batch in the model's own output structure (array, tuple/list or dict), as numpy.

    Call it under ``grad_disabled``; naming the outputs (and the argmax "prediction") is
    left to ``name_outputs`` over the concatenated batches, once per shard.
    """
    if is_torch(model):
        import torch

        return _to_numpy(model(torch.from_numpy(x).to(device)))
    return model.predict(x)


def concat_outputs(parts: list[Any]) -> Any:
    """Batches of one structure (array, tuple/list, dict) joined along the rows."""
    first = parts[0]
    if isinstance(first, dict):
        return {k: concat_outputs([p[k] for p in parts]) for k in first}
    if isinstance(first, (tuple, list)) and len(first) and np.ndim(first[0]) > 0:
        return [concat_outputs([p[i] for p in parts]) for i in range(len(first))]
    if len(parts) == 1:
        return np.asarray(first)
    return np.concatenate([np.asarray(p) for p in parts])


def _to_numpy(out: Any) -> Any:
    if isinstance(out, dict):
        return {k: _to_numpy(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return [_to_numpy(v) for v in out]
    return out.detach().cpu().numpy()


def name_outputs(out: Any) -> dict[str, np.ndarray]:
    """dict -> its keys; tuple -> output0..; one array -> output (+ prediction: argmax/column)."""
    if isinstance(out, dict):
        return {str(k): np.asarray(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)) and len(out) and np.ndim(out[0]) > 0:  # several outputs
        return {f"output{i}": np.asarray(v) for i, v in enumerate(out)}
    arr = np.asarray(out)
    if arr.ndim == 1:
        return {"prediction": arr}
    if arr.ndim == 2 and arr.shape[1] > 1:
        return {"output": arr, "prediction": arr.argmax(axis=1)}
    if arr.ndim == 2:
        return {"output": arr, "prediction": arr[:, 0]}
    return {"output": arr}


def is_torch_available() -> bool:
    """Whether torch can be imported (a predict(x) model may run without it)."""
    import importlib.util as iu

    return iu.find_spec("torch") is not None
