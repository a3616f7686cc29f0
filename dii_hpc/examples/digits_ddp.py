"""Demo: the digits CNN trained with DistributedDataParallel (configs/ddp-2nodes.yaml).

The Executor calls `train_function` on every rank of the task (resources.nodes x
tasks_per_node processes); `dii_hpc.distributed.init_process_group()` joins them (gloo on CPU,
nccl on GPUs) and a DistributedSampler gives each rank its share of every epoch.  The global
batch is `batch_size` whatever the world size (each rank takes batch_size / world_size), so
a 2-rank run learns what one process learns.  Rank 0 evaluates, logs and saves; the run is
one run.  `checkpoint()` / `restore()` make the task resumable: on a requeue the states rank 0
checkpointed come back to every rank and training continues at the next epoch.
"""

from __future__ import annotations

import time
from typing import Any

from dii_hpc.examples import _train
from dii_hpc.examples.digits import build_cnn


class DDPCNN:
    """Model: ``DDPCNN(width=16).train_function(data, run, lr=..., epochs=..., ...)`` on each rank."""

    def __init__(self, width: int = 16, **_: Any) -> None:
        self.width = width
        self._state: dict[str, Any] | None = None  # restored after a requeue
        self._live: dict[str, Any] = {}  # module, optimizer and next epoch while training

    def checkpoint(self) -> dict[str, Any] | None:
        """Weights, optimizer and the next epoch (called on rank 0 by the warning signal)."""
        if not self._live:
            return self._state
        module = self._live["module"]
        return {"model": {k: v.detach().cpu().clone() for k, v in _inner(module).state_dict().items()},
                "optimizer": self._live["optimizer"].state_dict(), "epoch": self._live["epoch"]}

    def restore(self, state: dict[str, Any] | None) -> None:
        self._state = state

    def train_function(self, data: Any, run: Any = None, lr: float = 3e-3, epochs: int = 15,
                       seed: int = 0, batch_size: int = 64, pause_s: float = 0.0,
                       out_dir: str | None = None, **_: Any) -> dict[str, Any]:
        """Train on this rank's share; rank 0 logs per-epoch metrics and returns them.

        ``pause_s`` sleeps after each epoch (a slow job, to show a requeue mid-training)."""
        import torch
        from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

        from dii_hpc import distributed

        dist = distributed.init_process_group()
        dev = distributed.device()
        x_tr, y_tr, x_te, y_te = _train.split(data)
        torch.manual_seed(seed)
        module = build_cnn(self.width).to(dev)
        opt = torch.optim.Adam(module.parameters(), lr=lr)
        first = 0
        if self._state:
            module.load_state_dict({k: v.to(dev) for k, v in self._state["model"].items()})
            opt.load_state_dict(self._state["optimizer"])
            first = int(self._state["epoch"])
        if first and dist.rank == 0 and run is not None:
            run.log_metric("resumed_epoch", float(first))  # this attempt began from a checkpoint
        model = _wrap(module, dist, dev)
        dataset = TensorDataset(torch.as_tensor(x_tr), torch.as_tensor(y_tr))
        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed)
        loader = DataLoader(dataset, batch_size=max(1, batch_size // dist.world_size),
                            sampler=sampler)
        loss_fn = torch.nn.CrossEntropyLoss()
        self._live = {"module": model, "optimizer": opt, "epoch": first}
        last: dict[str, float] = {}
        for epoch in range(first, epochs):
            sampler.set_epoch(epoch)
            model.train()
            total, seen = 0.0, 0
            for xb, yb in loader:
                xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total, seen = total + float(loss.detach()) * len(yb), seen + len(yb)
            self._live["epoch"] = epoch + 1
            if dist.rank == 0:
                last = {"train_loss": total / max(1, seen),
                        **_train.evaluate(_inner(model), x_te, y_te, device=dev)}
                if run is not None:
                    run.log_metrics(last, step=epoch)
            if pause_s:
                time.sleep(pause_s)
        out = self._finish(model, run, out_dir, last, dist)
        distributed.destroy_process_group()
        return out

    def _finish(self, model: Any, run: Any, out_dir: str | None, last: dict[str, float],
                dist: Any) -> dict[str, Any]:
        self._live = {}
        if dist.rank != 0:
            return {}
        if not last:  # resumed after the last epoch: evaluate what was restored
            last = _train.evaluate(_inner(model), *_test(run), device=next(_inner(model).parameters()).device)
        path = _train.save_state(_inner(model), _train.out_path(run, "model.pt", out_dir))
        return {"val_acc": last["val_acc"], "val_loss": last["val_loss"], "model": str(path)}


def _wrap(module: Any, dist: Any, dev: Any) -> Any:
    """DDP across the ranks (gradients averaged every step); the module itself when alone."""
    if not dist.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)


def _inner(model: Any) -> Any:
    return getattr(model, "module", model)


def _test(_run: Any) -> tuple[Any, Any]:
    from dii_hpc.examples.digits import Digits

    d = Digits().get_dataset()
    return d["x_test"], d["y_test"]
