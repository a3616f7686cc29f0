"""The `train_noise: sigma` recipe: retrain a `fit`-capable model with Gaussian noise
augmentation before it is smoothed.

Why: a base classifier trained on clean inputs is near chance under the noise smoothing adds,
so its smoothed classifier abstains everywhere; Cohen et al. train with the noise level they
certify with. `fit(x, y)` is the model's own recipe (from scratch), so the augmentation is in
the data: ``train_copies`` noisy copies of the training split, the noise and the training
drawn from the audit's seed (`core.randomness`), so every array task that needs the model
trains the same one. What was done is recorded in the result (``train_noise``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np

from dii_hpc.audit.core import randomness
from dii_hpc.audit.model.protocols import RetrainableModel, require

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.certification.smoothing import Settings
    from dii_hpc.audit.core.data import Prepared

_MARK = "_dii_hpc_train_noise"  # the recipe a model was last retrained with (done once)


def augmented(x: np.ndarray, y: np.ndarray, sigma: float, copies: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` copies of (x, y), each x with its own N(0, sigma^2) noise."""
    rng = np.random.default_rng(randomness.derive(seed, "train_noise"))
    noisy = [x.astype(np.float32) + sigma * rng.standard_normal(x.shape, dtype=np.float32)
             for _ in range(copies)]
    return np.concatenate(noisy), np.concatenate([np.asarray(y)] * copies)


def model_for(prep: Prepared, s: Settings) -> tuple[Any, dict[str, Any] | None]:
    """(the model to smooth, what training it took): the prepared model, retrained in place
    on noisy copies of the training split when ``train_noise`` asks (once per process)."""
    model = prep.model
    if s.train_noise is None:
        return model, None
    require(model, RetrainableModel, "smoothing with train_noise")
    x, y = prep.train
    done = {"sigma": s.train_noise, "copies": s.train_copies, "seed": prep.seed,
            "n_train": int(len(x)) * s.train_copies}
    if getattr(model, _MARK, None) != done:
        xa, ya = augmented(np.asarray(x), np.asarray(y), s.train_noise, s.train_copies,
                           prep.seed)
        with randomness.seeded(randomness.derive(prep.seed, "train_noise", "fit")):
            model.fit(xa, ya)
        with contextlib.suppress(AttributeError):  # __slots__: retrained each time
            setattr(model, _MARK, done)
    return model, done
