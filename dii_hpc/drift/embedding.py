"""A monitored model: `--model module:callable` gives embeddings (for MMD) and predictions.

Images and time series have no meaningful per-pixel / per-step test; their drift is judged on
what the model sees: the activations of its penultimate layer, compared with MMD. The callable
takes no arguments and returns either a torch module or any object implementing `Embedder`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import StoreLike


@runtime_checkable
class Embedder(Protocol):
    """What a non-torch model provides: a feature vector per input row (and optionally predict)."""

    def embed(self, x: np.ndarray) -> np.ndarray: ...


def load_model(spec: str, key: str = "--model", store: StoreLike = None) -> Any:
    """Build the model of a `module:callable` reference (or a registered `models:/...`
    version) and check it can give embeddings; an audit wrapper is seen through to its
    torch module."""
    from dii_hpc.registry import uri

    model = uri.build(spec, key, store=store)
    inner = getattr(model, "module", None)
    if not isinstance(model, Embedder) and _is_torch(inner):
        model = inner
    if not (_is_torch(model) or isinstance(model, Embedder) or hasattr(model, "predict")):
        raise BadInput(f"{key} {spec!r}: returned {type(model).__name__}, "
                       "need a torch.nn.Module or an object with embed(x) or predict(x)")
    return model


def scores(model: Any, x: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray] | None:
    """(class probabilities, classes) of a classifier (``predict_proba``, or a torch module's
    softmax), for the performance estimate; None for a model without them (a regressor)."""
    x = np.asarray(x)
    if _is_torch(model):
        out = _torch_forward(model, x, batch)[1]
        if out.ndim != 2 or out.shape[1] < 2:
            return None
        z = np.exp(out - out.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True), np.arange(out.shape[1])
    if not hasattr(model, "predict_proba"):
        return None
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    classes = getattr(model, "classes_", None)
    return proba, np.asarray(classes) if classes is not None else np.arange(proba.shape[1])


def _is_torch(model: Any) -> bool:
    if "torch" not in sys.modules:
        return False
    import torch

    return isinstance(model, torch.nn.Module)


def _last_layer(model: Any) -> Any:
    """The last registered leaf module with parameters: the classifier head in nearly every net."""
    leaves = [m for m in model.modules() if not list(m.children()) and list(m.parameters(False))]
    if not leaves:
        raise BadInput(f"model {type(model).__name__} has no layer with parameters")
    return leaves[-1]


def _torch_forward(model: Any, x: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate activations, outputs) in eval mode without gradients, in batches."""
    import torch

    head = _last_layer(model)
    seen: list[Any] = []
    hook = head.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].detach()))
    embs, outs = [], []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch):
                seen.clear()
                out = model(torch.from_numpy(np.array(x[i:i + batch], dtype=np.float32)))
                embs.append(seen[-1].reshape(len(out), -1).cpu().numpy())
                outs.append(out.cpu().numpy())
    finally:
        hook.remove()
        model.train(was_training)
    return np.concatenate(embs), np.concatenate(outs)


def _as_predictions(out: np.ndarray) -> np.ndarray:
    """Class index for multi-column outputs (logits / probabilities), the value otherwise."""
    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    return out.reshape(len(out))


def embed_and_predict(model: Any, x: np.ndarray,
                      batch: int = 512) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Embeddings (rows x dims; None for a model that only predicts, e.g. scikit-learn's)
    and predictions (or None when the model cannot predict)."""
    x = np.asarray(x)
    if len(x) == 0:
        raise BadInput("model input is empty")
    if _is_torch(model):
        try:
            emb, out = _torch_forward(model, x, batch)
        except RuntimeError as err:
            raise BadInput(f"model cannot take input of shape {x.shape} "
                           f"({str(err).splitlines()[0]})") from err
        return emb, _as_predictions(out)
    found: np.ndarray | None = None
    if isinstance(model, Embedder):
        found = np.asarray(model.embed(x), dtype=np.float64).reshape(len(x), -1)
    pred = _as_predictions(model.predict(x)) if hasattr(model, "predict") else None
    return found, pred
