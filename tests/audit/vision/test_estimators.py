"""The ART estimators: gradients equal torch autograd, ART's attacks accept them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dii_hpc.errors import BadInput


def test_segmentation_gradient_matches_autograd() -> None:
    import torch

    from dii_hpc.audit.model.vision_estimators import segmentation_estimator

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(),
                              torch.nn.Conv2d(4, 3, 1))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 1, 6, 5)).astype(np.float32)
    masks = rng.integers(0, 3, (3, 6, 5))
    est = segmentation_estimator(net, input_shape=(1, 6, 5), nb_classes=3)
    got = est.loss_gradient(x, masks)

    xt = torch.tensor(x, requires_grad=True)
    logits = net(xt)
    loss = sum(torch.nn.functional.cross_entropy(logits[i:i + 1], torch.tensor(masks[i:i + 1]))
               for i in range(3))
    loss.backward()
    np.testing.assert_allclose(got, xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    # per-sample: the gradient of one image does not depend on the rest of the batch
    np.testing.assert_allclose(est.loss_gradient(x[1:2], masks[1:2]), got[1:2],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(est.compute_loss(x, masks),
                               [float(torch.nn.functional.cross_entropy(
                                   logits[i:i + 1].detach(), torch.tensor(masks[i:i + 1])))
                                for i in range(3)], rtol=1e-5)
    # ART's untargeted attacks pass logits as labels when y is None: same as their argmax
    np.testing.assert_allclose(est.loss_gradient(x, est.predict(x)),
                               est.loss_gradient(x, est.predict(x).argmax(1)))


def test_art_attacks_accept_the_estimators(detector: Any, segmenter: Any, det_sample: Any,
                                          seg_sample: Any) -> None:
    """ART's own compatibility checks pass, and each attack moves the images within eps."""
    from art.attacks.evasion import DPatch, FastGradientMethod, ProjectedGradientDescentNumpy

    for model, (x, y) in ((detector, det_sample), (segmenter, seg_sample)):
        est = model.art_estimator()
        x, y = x[:2], y[:2]
        for attack in (FastGradientMethod(est, eps=0.1),
                       ProjectedGradientDescentNumpy(est, eps=0.1, eps_step=0.02, max_iter=2,
                                                     verbose=False)):
            assert attack.estimator is est
            x_adv = attack.generate(x=x, y=y)
            assert x_adv.shape == x.shape and x_adv.dtype == np.float32
            assert 0 < np.abs(x_adv - x).max() <= 0.1 + 1e-6
            assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0  # the estimator's clip values
    dpatch = DPatch(detector.art_estimator(), patch_shape=(1, 8, 8), max_iter=1, verbose=False)
    patch = dpatch.generate(x=det_sample[0][:2])
    assert patch.shape == (1, 8, 8) and np.isfinite(patch).all()


def test_estimators_are_top_level_classes_that_pickle(segmenter: Any, seg_sample: Any) -> None:
    """A process pool or an MPI rank can be sent an estimator; the copy computes the same."""
    import pickle

    import torch

    from dii_hpc.audit.model import vision_estimators as estimators

    est = segmenter.art_estimator()
    x, masks = seg_sample[0][:2], seg_sample[1][:2]
    back = pickle.loads(pickle.dumps(est))
    assert type(back) is type(est) is estimators.TorchSegmentationEstimator
    assert back.input_shape == est.input_shape and back.nb_classes == est.nb_classes
    np.testing.assert_array_equal(back.loss_gradient(x, masks), est.loss_gradient(x, masks))

    # the demo detector's module is a local class (not picklable); any picklable module is
    det = estimators.detector_estimator(torch.nn.Conv2d(1, 2, 3), input_shape=(1, 32, 32),
                                        nb_classes=4, attack_losses=("loss_heatmap",))
    det_back = pickle.loads(pickle.dumps(det))
    assert type(det_back) is estimators.TorchDetectorEstimator
    assert det_back.attack_losses == ("loss_heatmap",) and det_back.input_shape == (1, 32, 32)
    assert estimators.TorchDetectorEstimator.__qualname__ == "TorchDetectorEstimator"


def test_detector_estimator_torchvision_contract(detector: Any, det_sample: Any) -> None:
    import torch

    x, targets = det_sample[0][:4], det_sample[1][:4]
    est = detector.art_estimator()
    preds = est.predict(x)
    assert len(preds) == 4
    for p in preds:
        assert p["boxes"].shape == (len(p["labels"]), 4) and len(p["scores"]) == len(p["labels"])
        assert set(np.unique(p["labels"])) <= {1, 2, 3}
    grad = est.loss_gradient(x, targets)
    assert grad.shape == x.shape and np.abs(grad).max() > 0

    # the same gradient by hand: train mode, summed losses, autograd
    xt = torch.tensor(x, requires_grad=True)
    detector.module.train()
    losses = detector.module(xt, [{k: torch.as_tensor(v) for k, v in t.items()}
                                  for t in targets])
    detector.module.eval()
    sum(losses.values()).backward()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert set(est.compute_losses(x, targets)) == set(losses)
    assert not detector.module.training


def test_attack_losses_subset_and_unknown(detector: Any, det_sample: Any) -> None:
    from dii_hpc.audit.model.vision_estimators import detector_estimator

    x, t = det_sample[0][:2], det_sample[1][:2]
    est = detector_estimator(detector.module, input_shape=(1, 32, 32), nb_classes=4,
                             attack_losses=("loss_heatmap",))
    assert est.loss_gradient(x, t).shape == x.shape
    bad = detector_estimator(detector.module, input_shape=(1, 32, 32), nb_classes=4,
                             attack_losses=("loss_classifier",))
    with pytest.raises(BadInput, match="loss_classifier"):
        bad.loss_gradient(x, t)
