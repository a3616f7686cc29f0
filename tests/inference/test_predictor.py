"""Batches through a model: whatever the output structure, joined batches equal one big batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from dii_hpc.inference.predictor import forward
from dii_hpc.inference.shard import predict_rows


class TwoHeads(torch.nn.Module):
    def __init__(self, as_dict: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.as_dict = torch.nn.Linear(4, 3), torch.nn.Linear(4, 1), as_dict

    def forward(self, x: torch.Tensor) -> Any:
        if self.as_dict:
            return {"logits": self.a(x), "score": self.b(x)[:, 0]}
        return self.a(x), self.b(x)


class Labels:
    """A predict(x) model that answers with a plain list."""

    def predict(self, x: np.ndarray) -> list[int]:
        return [int(v > 0) for v in x[:, 0]]


@pytest.mark.parametrize("model", [TwoHeads(True), TwoHeads(False), Labels(), torch.nn.Linear(4, 3)])
def test_batched_outputs_equal_one_batch_and_are_named_alike(model: Any) -> None:
    x = np.random.default_rng(1).normal(size=(103, 4)).astype(np.float32)
    latencies: list[float] = []
    got = predict_rows(model, x, 10, "cpu", latencies)
    whole = forward(model, x, "cpu")
    assert sorted(got) == sorted(whole) and len(latencies) == 11
    for name, value in whole.items():
        assert got[name].shape == value.shape
        np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-6)
    if "output" in got and got["output"].ndim == 2:
        np.testing.assert_array_equal(got["prediction"], got["output"].argmax(axis=1))


def test_no_rows_give_no_outputs() -> None:
    assert predict_rows(torch.nn.Linear(4, 3), np.zeros((0, 4), np.float32), 10, "cpu", []) == {}
