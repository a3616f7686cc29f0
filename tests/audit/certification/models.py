"""Digits classifiers that bound propagation supports (the demo CNN max-pools): an MLP and a
small CNN with BatchNorm and average pooling, trained with Gaussian noise so that their
certificates are not empty; "module:callable" factories for audit configs and the registry."""

from __future__ import annotations

from typing import Any

RECIPE = {"arch": "cnn", "epochs": 8, "sigma": 0.25, "seed": 0}


def build(arch: str) -> Any:
    import torch.nn as nn

    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32),
                             nn.ReLU(), nn.Linear(32, 10))
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(128, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def train(arch: str, epochs: int, sigma: float, seed: int) -> Any:
    """Adam on digits with fresh N(0, sigma^2) noise on every batch (deterministic)."""
    import torch

    from dii_hpc.examples.digits import Digits

    d = Digits().get_dataset()
    torch.manual_seed(seed)
    module = build(arch)
    x, y = torch.as_tensor(d["x_train"]), torch.as_tensor(d["y_train"])
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            noisy = x[idx] + sigma * torch.randn(x[idx].shape, generator=gen)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(noisy), y[idx]).backward()
            opt.step()
    return module.eval()


def digits_net(weights: str | None = None, **params: Any) -> Any:
    """The wrapped model: ``weights`` loaded, else the recipe trained (cached)."""
    import torch

    from dii_hpc.audit.model.wrappers import TorchModelWrapper
    from dii_hpc.examples import _train

    recipe = {**RECIPE, **params}
    if weights:
        module = build(str(recipe["arch"]))
        module.load_state_dict(torch.load(weights, weights_only=True))
        path = weights
    else:
        module, cached = _train.cached_module(
            lambda: build(str(recipe["arch"])),
            lambda m: m.load_state_dict(train(str(recipe["arch"]), int(recipe["epochs"]),
                                              float(recipe["sigma"]),
                                              int(recipe["seed"])).state_dict()),
            {"name": "certify-digits", **recipe})
        path = str(cached)
    return TorchModelWrapper(module.eval(), task="image_classification", input_shape=(1, 8, 8),
                             nb_classes=10, clip_values=(0.0, 1.0), weights_path=path)
