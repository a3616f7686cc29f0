"""A Model for reliability runs: many points, optional pacing, checkpoint/restore.

Used by scripts/reliability.py (64 array tasks x 20,000 points, requeue storms). Values are
a pure function of (task seed, key, step), so a checker can verify every stored point.
"""

from __future__ import annotations

import time
from typing import Any

KEYS = ("a", "b", "c/d")


def expected(seed: int, key: str, step: int) -> float:
    return {"a": step + seed, "b": -float(step), "c/d": step * 0.5 + seed}[key]


class PointWriter:
    """`train_function` logs `points` steps of three keys, `seconds` long in all."""

    def __init__(self, points: int = 20_000, seconds: float = 0.0) -> None:
        self.points, self.seconds = int(points), float(seconds)
        self.step = 0

    def checkpoint(self) -> dict[str, Any]:
        return {"step": self.step}

    def restore(self, state: dict[str, Any]) -> None:
        self.step = int(state.get("step", 0))

    def train_function(self, data: Any = None, run: Any = None, seed: int = 0, **_: Any) -> dict[str, Any]:
        pause = self.seconds / max(self.points, 1)
        log = run.log_metric
        while self.step < self.points:
            s = self.step
            for key in KEYS:
                log(key, expected(seed, key, s), s)
            self.step += 1
            if pause and s % 100 == 0:
                time.sleep(pause * 100)
        return {"points": float(self.points)}
