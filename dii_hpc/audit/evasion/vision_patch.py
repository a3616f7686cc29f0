"""A universal adversarial patch trained through any ART estimator's `loss_gradient`.

ART's patch attacks need a classifier (AdversarialPatch*) or an object detector (DPatch);
a segmentation estimator qualifies for neither, so this is the small patch optimisation
the audit uses there (and may use on detectors too): one patch for all images, pasted at a
random place per image (numpy's global RNG, seeded by the caller like ART), improved by
signed-gradient ascent of the model's loss (descent towards `y` when `targeted`).
Note: pasting replaces pixels, so on segmentation the pixels under the patch are wrong
even for a random patch; the report compares against the clean image as a whole.
"""

from __future__ import annotations

import inspect
import random
from typing import Any

import numpy as np


class UniversalPatch:
    """Patch attack: `generate(x, y) -> patch`, `apply_patch(x) -> patched images`."""

    def __init__(self, estimator: Any, patch_shape: tuple[int, int, int] = (1, 8, 8),
                 learning_rate: float = 0.05, max_iter: int = 30, batch_size: int = 32,
                 targeted: bool = False, verbose: bool = False) -> None:
        self.estimator = estimator
        self.patch_shape = tuple(int(v) for v in patch_shape)
        self.learning_rate, self.max_iter = float(learning_rate), int(max_iter)
        self.batch_size, self.targeted = int(batch_size), bool(targeted)
        lo, hi = estimator.clip_values
        c, h, w = self.patch_shape
        height, width = estimator.input_shape[-2:]
        if c != estimator.input_shape[0] or h > height or w > width:
            raise TypeError(f"patch_shape {self.patch_shape} does not fit images "
                            f"{tuple(estimator.input_shape)}")
        self.patch = np.full(self.patch_shape, (lo + hi) / 2, dtype=np.float32)

    def _places(self, n: int) -> np.ndarray:
        _, h, w = self.patch_shape
        height, width = self.estimator.input_shape[-2:]
        return np.stack([np.random.randint(0, height - h + 1, n),
                         np.random.randint(0, width - w + 1, n)], 1)

    def apply_patch(self, x: np.ndarray, places: np.ndarray | None = None) -> np.ndarray:
        """Paste the patch at `places` (row, col per image; random when None)."""
        places = self._places(len(x)) if places is None else places
        _, h, w = self.patch_shape
        out = np.array(x, dtype=np.float32, copy=True)
        for i, (r, c) in enumerate(places):
            out[i, :, r:r + h, c:c + w] = self.patch
        return out

    def generate(self, x: np.ndarray, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Train the patch on (x, y); y=None attacks the model's own clean predictions."""
        if y is None:
            y = self.estimator.predict(x)
        places = self._places(len(x))
        _, h, w = self.patch_shape
        sign = -1.0 if self.targeted else 1.0
        lo, hi = self.estimator.clip_values
        for _ in range(self.max_iter):
            patched = self.apply_patch(x, places)
            grad = np.zeros_like(self.patch)
            for s in range(0, len(x), self.batch_size):
                g = self.estimator.loss_gradient(patched[s:s + self.batch_size],
                                                 y[s:s + self.batch_size])
                for j, (r, c) in enumerate(places[s:s + self.batch_size]):
                    grad += g[j, :, r:r + h, c:c + w]
            self.patch = np.clip(self.patch + sign * self.learning_rate * np.sign(grad),
                                 lo, hi).astype(np.float32)
        return self.patch


def train_and_apply(attack: Any, x: np.ndarray, y: Any, seed: int, **kwargs: Any) -> np.ndarray:
    """Train a patch (ours, DPatch, RobustDPatch) on (x, y) and paste it on x.

    DPatch places patches with Python's `random`, ours with numpy's: both are seeded, and
    evaluation places are drawn afresh (seed + 1) so the patch must be universal.
    """
    random.seed(seed)
    attack.generate(x=x, y=y, **kwargs)
    random.seed(seed + 1)
    np.random.seed(seed + 1)
    if "random_location" in inspect.signature(attack.apply_patch).parameters:
        return np.asarray(attack.apply_patch(x, random_location=True), dtype=np.float32)
    return np.asarray(attack.apply_patch(x), dtype=np.float32)
