"""Loaders for registry tests: "module:callable" factories that take weights=PATH."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class Constant:
    """A predict-only model whose output is the first byte of its weights file."""

    def __init__(self, weights: str, scale: float = 1.0) -> None:
        self.weights, self.scale = weights, scale
        self.value = float(Path(weights).read_bytes()[0]) * scale

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.value)


def constant(weights: str, scale: float = 1.0) -> Constant:
    return Constant(weights, scale)


def load_quadratic(weights: str, width: int = 4) -> dict[str, Any]:
    """What the launch fixtures' Quadratic saved: width, lr, seed."""
    w, lr, seed = Path(weights).read_text().split()
    return {"width": int(w), "lr": float(lr), "seed": int(seed), "configured_width": width}
