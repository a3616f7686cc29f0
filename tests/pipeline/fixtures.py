"""Tiny models for pipeline tests (no torch: a sweep task starts and ends in about a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Scored:
    """Model whose val_acc is lr * width; saves its "weights" as model.pt."""

    def __init__(self, width: int = 1) -> None:
        self.width = width

    def train_function(self, data: Any = None, run: Any = None, lr: float = 0.1,
                       **_: Any) -> dict[str, Any]:
        out = Path(run.dir) / "model.pt"
        out.write_text(f"{self.width} {lr}\n")
        return {"val_acc": lr * self.width, "model": str(out)}


class Boom:
    """Model whose training raises."""

    def __init__(self, width: int = 1) -> None:
        self.width = width

    def train_function(self, data: Any = None, run: Any = None, **_: Any) -> None:
        raise ValueError("exploded on purpose")


def load(weights: str, width: int = 1) -> dict[str, Any]:
    """The registered loader of `Scored` (what `models:/NAME/N` builds)."""
    return {"weights": Path(weights).read_text(), "width": width}
