"""One deterministic torch training loop and a weights cache shared by the demo models.

Demo audits must be reproducible and cheap: the same recipe (params + seed) always gives
the same weights, so they are trained once and cached under $DII_HPC_CACHE (default
~/.cache/dii-hpc) keyed by a hash of the recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dii_hpc.cache import cache_dir


def recipe_key(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def save_state(module: Any, path: Path) -> Path:
    """torch.save through a temp file + rename, so a reader never sees half a file."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp)  # loads anywhere
    os.replace(tmp, path)
    return path


def cached_module(build: Callable[[], Any], train: Callable[[Any], Any],
                  recipe: dict[str, Any]) -> tuple[Any, Path]:
    """Load the module trained by `recipe` from the cache, training it the first time."""
    import torch

    path = cache_dir("examples") / f"{recipe.get('name', 'model')}-{recipe_key(recipe)}.pt"
    module = build()
    if path.exists():
        module.load_state_dict(torch.load(path, weights_only=True))
        return module.eval(), path
    train(module)
    return module.eval(), save_state(module, path)


def fit(module: Any, x: np.ndarray, y: np.ndarray, *, regression: bool = False,
        lr: float = 1e-2, epochs: int = 20, seed: int = 0, batch_size: int = 64,
        weight_decay: float = 0.0, val: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """Adam + mini-batches in a seeded order; returns the last epoch's validation metrics."""
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y)).to(torch.float32 if regression else torch.long)
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    last: dict[str, float] = {}
    for epoch in range(epochs):
        module.train()
        total = 0.0
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            opt.zero_grad()
            out = module(xt[idx])
            loss = loss_fn(out.reshape(-1) if regression else out, yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        last = {"train_loss": total / len(xt)}
        if val is not None:
            last.update(evaluate(module, *val, regression=regression))
        if on_epoch is not None:
            on_epoch(epoch, last)
    module.eval()
    return last


def evaluate(module: Any, x: np.ndarray, y: np.ndarray, *,
             regression: bool = False, device: Any = "cpu") -> dict[str, float]:
    """val_loss and val_acc (classification) or val_mae (regression), computed on the CPU."""
    import torch

    module.eval()
    with torch.no_grad():
        out = module(torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)).cpu()
        if regression:
            yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
            pred = out.reshape(-1)
            return {"val_loss": float(torch.nn.functional.mse_loss(pred, yt)),
                    "val_mae": float((pred - yt).abs().mean())}
        yt = torch.as_tensor(np.asarray(y)).long()
        return {"val_loss": float(torch.nn.functional.cross_entropy(out, yt)),
                "val_acc": float((out.argmax(1) == yt).float().mean())}


def split(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accept a DatasetLoader's dict or a (x_train, y_train, x_test, y_test) tuple."""
    if isinstance(data, dict):
        return data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    x_train, y_train, x_test, y_test = data
    return x_train, y_train, x_test, y_test


def out_path(run: Any, name: str, out_dir: str | None) -> Path:
    """Weights go in the run's dir when tracked, else `out_dir`, else a fresh tmp dir."""
    if out_dir:
        return Path(out_dir) / name
    if run is not None and getattr(run, "dir", None):
        return Path(run.dir) / name
    return Path(tempfile.mkdtemp(prefix="dii-hpc-model-")) / name
