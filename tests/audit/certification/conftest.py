"""A small CNN trained with Gaussian noise on digits, once per session (shared by the
certification tests), and the audit config that loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SIGMA = 0.25
WIDTH = 8


@pytest.fixture(scope="session")
def noisy_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights of `digits.build_cnn(8)` trained 8 epochs on digits with fresh N(0, 0.25^2)
    noise on every batch (Cohen et al.'s recipe; a few seconds on a CPU)."""
    import torch

    from dii_hpc.examples.digits import Digits, build_cnn

    d = Digits().get_dataset()
    torch.manual_seed(0)
    module = build_cnn(WIDTH)
    x = torch.as_tensor(d["x_train"])
    y = torch.as_tensor(d["y_train"])
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(8):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            noisy = x[idx] + SIGMA * torch.randn(x[idx].shape, generator=gen)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(noisy), y[idx]).backward()
            opt.step()
    module.eval()
    path = tmp_path_factory.mktemp("noisy-digits") / "cnn.pt"
    torch.save(module.state_dict(), path)
    return path


def config(weights: Path, **extra: Any) -> dict[str, Any]:
    """The audit config of the noise-trained CNN (``extra`` on top)."""
    return {"model": {"factory": "dii_hpc.examples.digits:digits_model",
                      "params": {"weights": str(weights), "width": WIDTH}},
            "data": "dii_hpc.examples.digits:digits_data", "seed": 0, **extra}


def module_of(weights: Path) -> Any:
    import torch

    from dii_hpc.examples.digits import build_cnn

    module = build_cnn(WIDTH)
    module.load_state_dict(torch.load(weights, weights_only=True))
    return module.eval()
