"""The torch engine on a channels-last model: the layout a user converts a conv model to for
speed (`module.to(memory_format=torch.channels_last)` in the factory: ~20% off a conv
pass on the CPU, more on GPUs) is the model's own, so every torch attack runs on it and
gives the numbers of the same model in its default layout, within float noise."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

N = 48


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def models(digits: Any) -> tuple[Any, Any]:
    """(the digits CNN, a copy of it converted to channels-last)."""
    import torch

    model = digits[0]
    converted = copy.deepcopy(model)
    converted.module = converted.module.to(memory_format=torch.channels_last)
    from dii_hpc.audit.evasion.torch_engine.target import of

    assert of(converted).channels_last and not of(model).channels_last  # only the copy
    x = of(converted).tensor(np.zeros((2, 1, 8, 8), np.float32))
    assert x.is_contiguous(memory_format=torch.channels_last)
    return model, converted


@pytest.fixture(scope="module")
def small(digits_eval: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = digits_eval
    return x[:N], y[:N]


def _agree(ok: np.ndarray, ok_cl: np.ndarray, adv: np.ndarray, adv_cl: np.ndarray) -> None:
    """The same outcome up to float noise. The two layouts' kernels round differently (input
    gradients differ by ~1e-6 of their largest element), so a gradient element within
    rounding of zero may take the other sign and move its pixel by a step, and that sample's
    path may then part (here: 2 pixels of one sample, its decision unchanged; another CPU's
    kernels may part another). Stated tolerance: at most 2 of the 48 samples differ in
    decision or point (max pixel difference above 1e-4); a wrong layout would part them all."""
    assert int((~ok).sum()) > 0  # some samples fooled: the comparison is not vacuous
    assert adv.shape == adv_cl.shape and adv_cl.flags.c_contiguous
    parted = (ok != ok_cl) | (np.abs(adv - adv_cl).reshape(len(adv), -1).max(1) > 1e-4)
    assert int(parted.sum()) <= 2, np.flatnonzero(parted)


@pytest.mark.parametrize("name,params", [
    ("fgsm", {"eps": 0.1}),
    ("pgd", {"eps": 0.1, "eps_step": 0.025, "max_iter": 10}),
    ("pgd_l2", {"eps": 1.5, "max_iter": 10}),
    ("apgd", {"eps": 0.1, "eps_step": 0.025, "max_iter": 10}),
    ("cw", {"max_iter": 10, "binary_search_steps": 2}),
])
def test_catalogue_attacks_give_the_numbers_of_the_default_layout(
        name: str, params: dict[str, Any], models: Any, small: Any) -> None:
    from dii_hpc.audit.evasion import generate as evasion

    (model, converted), (x, y) = models, small
    rec, ok, adv = evasion.run_named(model, x, y, name, dict(params), engine="torch")
    rec_cl, ok_cl, adv_cl = evasion.run_named(converted, x, y, name, dict(params),
                                              engine="torch")
    assert rec["engine"] == rec_cl["engine"] == "torch"
    _agree(ok, ok_cl, adv, adv_cl)
    assert abs(rec["metrics"]["robust_accuracy"] - rec_cl["metrics"]["robust_accuracy"]) \
        <= 2 / N + 1e-9


@pytest.mark.parametrize("attack", ["apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square"])
def test_autoattack_attacks_give_the_numbers_of_the_default_layout(
        attack: str, models: Any, small: Any) -> None:
    from dii_hpc.audit.evasion.torch_engine import apgd, fab, square
    from dii_hpc.audit.evasion.torch_engine.target import of

    def run(model: Any) -> tuple[np.ndarray, np.ndarray]:
        target = of(model)
        x, y = target.tensor(small[0]), target.labels(small[1])
        if attack == "fab-t":
            adv = fab.fab_targeted(target, x, y, norm=np.inf, eps=0.1, n_iter=15,
                                   n_target_classes=2)
        elif attack == "square":
            adv = square.square(target, x, y, norm=np.inf, eps=0.15, n_queries=150)
        else:
            loss = {"apgd-ce": "ce", "apgd-dlr": "dlr", "apgd-t": "dlr-targeted"}[attack]
            adv = apgd.apgd(target, x, y, norm=np.inf, eps=0.1, n_iter=15, loss=loss,
                            n_target_classes=2)
        ok = (target.predict(adv).argmax(1) == y).cpu().numpy()
        assert float((adv - x).abs().max()) <= (0.15 if attack == "square" else 0.1) + 1e-6
        return ok, adv.detach().cpu().contiguous().numpy()

    (ok, adv), (ok_cl, adv_cl) = run(models[0]), run(models[1])
    _agree(ok, ok_cl, adv, adv_cl)
