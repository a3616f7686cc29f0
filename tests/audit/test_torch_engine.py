"""The torch engine: ART's numbers on deterministic settings, the reference attacks, blocks."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.evasion import generate as evasion
from dii_hpc.errors import BadInput

N = 48  # samples of the parity tests: small, and enough for a few hundred flipped pixels


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def small(digits_eval: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = digits_eval
    return x[:N], y[:N]


def _zero_start() -> Any:
    """ART's AutoPGD always starts at a random point; zero it for the deterministic run."""
    from unittest import mock

    import art.attacks.evasion.auto_projected_gradient_descent as apgd_module

    return mock.patch.object(apgd_module, "random_sphere",
                             lambda n, m, radius, norm: np.zeros((n, m)))


@pytest.mark.parametrize("name,params", [
    ("fgsm", {"eps": 0.05}),
    ("pgd", {"eps": 0.05, "eps_step": 0.0125, "max_iter": 10, "num_random_init": 0}),
    ("pgd_l2", {"max_iter": 10, "num_random_init": 0}),
    ("apgd", {"eps": 0.05, "eps_step": 0.0125, "max_iter": 10}),
])
def test_torch_engine_equals_art(name: str, params: dict[str, Any], digits: Any,
                                 small: Any) -> None:
    """Same robust accuracy and the same per-sample outcome (and, here, the same points)."""
    model, _ = digits
    x, y = small
    ctx = _zero_start() if name == "apgd" else contextlib.nullcontext()
    with ctx:
        art_rec, art_ok, art_adv = evasion.run_named(model, x, y, name, dict(params))
    torch_params = {**params, "nb_random_init": 0} if name == "apgd" else params
    rec, ok, adv = evasion.run_named(model, x, y, name, dict(torch_params), engine="torch")
    assert rec["engine"] == "torch" and art_rec["engine"] == "art"
    assert rec["metrics"]["robust_accuracy"] == art_rec["metrics"]["robust_accuracy"]
    np.testing.assert_array_equal(ok, art_ok)
    np.testing.assert_allclose(adv, art_adv, atol=1e-6)
    assert 0 < art_ok.sum() < len(ok) or name == "pgd_l2"  # the comparison is not vacuous


def test_carlini_l2_follows_art(digits: Any, small: Any) -> None:
    """ART's C&W algorithm in torch: ART's decisions and perturbation sizes, on any CPU.

    Both engines take the same steps with differently rounded floats (the kernels, hence
    the last bits, depend on the CPU: AVX-512 or AVX2, thread count). A sample's path only
    changes where a comparison (success, the line search's loss test, the binary search on
    c) lands within rounding of its threshold; C&W stops on the decision boundary, so that
    happens to one sample in 48 or none (seen with torch's AVX-512, AVX2 and SSE kernels and
    two threads, on four sets of 48 samples). A sample on the same path ends with the same
    label and its L2 norm within ~1e-6, though a pixel may differ by 1e-3 (rounding adds up
    over 15 steps). So 2 samples of 48 may differ; points are not compared bit for bit."""
    model, _ = digits
    x, y = small
    art_rec, art_ok, art_adv = evasion.run_named(model, x, y, "cw", {"max_iter": 5})
    rec, ok, adv = evasion.run_named(model, x, y, "cw", {"max_iter": 5}, engine="torch")
    same_label = model.predict(adv).argmax(1) == model.predict(art_adv).argmax(1)
    norm, art_norm = (np.linalg.norm((a - x).reshape(N, -1), axis=1) for a in (adv, art_adv))
    same_norm = np.isclose(norm, art_norm, rtol=1e-3, atol=1e-6)
    assert (ok == art_ok).sum() >= N - 2 and same_label.sum() >= N - 2
    assert same_norm.sum() >= N - 2, (norm - art_norm)[~same_norm]
    assert abs(rec["metrics"]["robust_accuracy"] - art_rec["metrics"]["robust_accuracy"]) <= 2 / N
    assert rec["metrics"]["mean_perturbation_l2"] == pytest.approx(
        art_rec["metrics"]["mean_perturbation_l2"], rel=0.02)
    assert rec["metrics"]["robust_accuracy"] < 0.5  # it does attack


@pytest.mark.parametrize("params", [
    {"initial_const": 0.01, "confidence": 0.5, "binary_search_steps": 4},  # c doubles
    {"targeted": True, "initial_const": 1.0, "binary_search_steps": 3},    # c halves
])
def test_carlini_l2_search_over_c_follows_art(params: dict[str, Any], digits: Any,
                                              small: Any) -> None:
    """The binary search over c (doubling from a c too small, then halving; confidence;
    the targeted loss) gives ART's decisions and sizes (the tolerance of the test above),
    with one forward under a graph and one backward per iteration (ART: a forward, then one
    per class gradient): the line search's forwards carry no graph."""
    from unittest import mock

    import torch
    from art.attacks.evasion import CarliniL2Method

    from dii_hpc.audit.evasion.torch_engine import cw
    from dii_hpc.audit.evasion.torch_engine.target import of

    model, _ = digits
    x, y = small
    labels = (y + 1) % 10 if params.get("targeted") else y
    kw = {"learning_rate": 0.01, "max_iter": 5, "batch_size": N, **params}
    art_adv = CarliniL2Method(model.art_estimator(), verbose=False, **kw).generate(
        x=x, y=np.eye(10)[labels])
    target = of(model)
    graphs = []
    target.logits = lambda v: (graphs.append(len(v)) if torch.is_grad_enabled() else None,
                               target.module(v))[1]
    with mock.patch.object(torch.autograd, "grad", wraps=torch.autograd.grad) as backward:
        adv = cw.carlini_l2(target, target.tensor(x), target.labels(labels), **kw).numpy()
    hit, art_hit = (model.predict(a).argmax(1) == labels for a in (adv, art_adv))
    if not params.get("targeted"):
        hit, art_hit = ~hit, ~art_hit
    norm, art_norm = (np.linalg.norm((a - x).reshape(N, -1), axis=1) for a in (adv, art_adv))
    assert (hit == art_hit).sum() >= N - 2 and 0 < art_hit.sum() < N  # not vacuous
    assert np.isclose(norm, art_norm, rtol=1e-3, atol=1e-6).sum() >= N - 2
    assert backward.call_count == len(graphs) <= kw["binary_search_steps"] * (kw["max_iter"] + 1)


@pytest.mark.parametrize("norm", [np.inf, 2])
def test_projections_are_the_least_norm_point_in_the_box(norm: Any) -> None:
    """Against scipy's optimiser on small random problems, feasible and infeasible."""
    import torch
    from scipy.optimize import linprog, minimize

    from dii_hpc.audit.evasion.torch_engine.projections import project_l2, project_linf

    rng = np.random.default_rng(0)
    d, rows = 6, 12
    t = rng.uniform(size=(rows, d))
    w = rng.normal(size=(rows, d))
    b = (w * rng.uniform(size=(rows, d))).sum(1) * rng.choice([0.5, 1.0, 8.0], rows)
    proj = project_linf if norm == np.inf else project_l2
    delta = proj(torch.tensor(t), torch.tensor(w), torch.tensor(b)).numpy()
    assert (t + delta >= -1e-9).all() and (t + delta <= 1 + 1e-9).all()
    for i in range(rows):
        bounds = list(zip(-t[i], 1 - t[i], strict=True))
        if norm == np.inf:  # min s  s.t. |delta_j| <= s, w.delta = b - w.t, box
            c = np.r_[np.zeros(d), 1.0]
            a_ub = np.block([[np.eye(d), -np.ones((d, 1))], [-np.eye(d), -np.ones((d, 1))]])
            res = linprog(c, A_ub=a_ub, b_ub=np.zeros(2 * d),
                          A_eq=np.r_[w[i], 0.0][None], b_eq=[b[i] - w[i] @ t[i]],
                          bounds=[*bounds, (0, None)])
            best = res.fun if res.success else None
        else:
            res = minimize(lambda v: v @ v, np.zeros(d), jac=lambda v: 2 * v, bounds=bounds,
                           constraints=[{"type": "eq", "fun": lambda v, i=i: w[i] @ v -
                                         (b[i] - w[i] @ t[i])}], method="SLSQP")
            best = np.sqrt(res.fun) if res.success else None
        on_plane = abs(w[i] @ (t[i] + delta[i]) - b[i]) < 1e-6
        if best is not None:  # feasible: on the plane, with the optimiser's norm
            assert on_plane
            ours = np.abs(delta[i]).max() if norm == np.inf else np.linalg.norm(delta[i])
            assert ours == pytest.approx(best, abs=1e-5)
        else:  # infeasible: every coordinate moved to the box face towards the plane
            assert not on_plane
            assert np.isclose(np.minimum(t[i] + delta[i], 1 - t[i] - delta[i]), 0).all()


def test_fab_t_equals_torchattacks_port(digits: Any, small: Any) -> None:
    """FAB-T is deterministic with one restart: the same points as torchattacks' FAB."""
    torchattacks = pytest.importorskip("torchattacks")
    from dii_hpc.audit.evasion.torch_engine import fab
    from dii_hpc.audit.evasion.torch_engine.target import of

    target = of(digits[0])
    x, y = target.tensor(small[0][:16]), target.labels(small[1][:16])
    ours = fab.fab_targeted(target, x, y, norm=np.inf, eps=0.1, n_iter=30)
    ref = torchattacks.FAB(target.module, norm="Linf", eps=0.1, steps=30, n_restarts=1,
                           multi_targeted=True, n_classes=10, seed=0)(x, y)
    assert (ours != x).any()
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-4)


@pytest.mark.parametrize("norm,eps", [(np.inf, 0.2), (2, 1.5)])
def test_square_stays_in_the_ball_and_box(norm: Any, eps: float, digits: Any,
                                          small: Any) -> None:
    from dii_hpc.audit.evasion.torch_engine import square
    from dii_hpc.audit.evasion.torch_engine.target import of, per_sample_norm

    target = of(digits[0])
    x, y = target.tensor(small[0][:12]), target.labels(small[1][:12])
    adv = square.square(target, x, y, norm=norm, eps=eps, n_queries=200)
    assert float(per_sample_norm(adv - x, norm).max()) <= eps + 1e-5
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert bool((target.predict(adv).argmax(1) != y).any())  # and it does attack


def test_blocks_give_the_numbers_of_one_call(digits: Any, small: Any) -> None:
    """Random starts depend on (seed, global index): halves with their indices == one call."""
    import torch

    from dii_hpc.audit.evasion.torch_engine import apgd
    from dii_hpc.audit.evasion.torch_engine.target import of

    target = of(digits[0])
    x, y = target.tensor(small[0][:20]), target.labels(small[1][:20])
    kw = {"norm": np.inf, "eps": 0.06, "n_iter": 10, "seed": 3}
    whole = apgd.apgd(target, x, y, **kw)
    halves = torch.cat([apgd.apgd(target, x[:7], y[:7], index=np.arange(7), **kw),
                        apgd.apgd(target, x[7:], y[7:], index=np.arange(7, 20), **kw)])
    assert torch.equal(whole, halves)
    assert not torch.equal(whole, apgd.apgd(target, x, y, **{**kw, "seed": 4}))


def test_bad_input_names_the_cause(digits: Any, small: Any) -> None:
    from dii_hpc.examples.tabular import breast_cancer_data, breast_cancer_sklearn

    x, y = small
    sk = breast_cancer_sklearn()
    xs, ys = breast_cancer_data().get_test_data()
    with pytest.raises(BadInput, match="needs a torch model .* has none - use --engine art"):
        evasion.run_named(sk, xs[:4].astype(np.float32), ys[:4], "fgsm", engine="torch")
    with pytest.raises(BadInput, match="has no torch engine implementation"):
        evasion.run_named(digits[0], x, y, "deepfool", engine="torch")
    with pytest.raises(BadInput, match="the torch engine has no parameter 'decay'"):
        evasion.run_named(digits[0], x, y, "pgd", {"decay": 0.9}, engine="torch")
    with pytest.raises(BadInput, match="--engine 'jax': expected one of art, torch"):
        evasion.run_named(digits[0], x, y, "pgd", engine="jax")


def test_batch_size_is_found_once_per_model_and_device(digits: Any, small: Any, tmp_path: Any,
                                                       monkeypatch: Any) -> None:
    """The device's batch is measured by one probe, then read from the process and from the
    per-user cache (a later process) without running the model again."""
    import torch

    from dii_hpc.audit.evasion.torch_engine import batching
    from dii_hpc.audit.evasion.torch_engine.target import of

    monkeypatch.setenv("DII_HPC_CACHE", str(tmp_path))
    monkeypatch.setattr(batching, "_KNOWN", {})
    monkeypatch.setattr(batching, "PROBES", [])
    target = of(digits[0])
    x = target.tensor(small[0])
    calls: list[int] = []
    hook = target.module.register_forward_hook(lambda *a: calls.append(1))
    try:
        first = batching.size(target, x)
        probed = len(calls)
        again = batching.size(target, x)
        monkeypatch.setattr(batching, "_KNOWN", {})  # a new process: only the file is left
        later = batching.size(target, x)
    finally:
        hook.remove()
    key = batching.key(target.module, (1, 8, 8), "cpu")
    assert probed >= 1 and len(calls) == probed  # one probe, then no forward at all
    assert batching.PROBES.count(key) == 1 and (tmp_path / "batch-sizes" / f"{key}.json").exists()
    assert first == again == later == len(x)  # 48 samples of 8x8 fit any machine
    assert batching.bound(target.module, (1, 8, 8), "cpu") >= 256
    assert key != batching.key(target.module, (1, 16, 16), "cpu")
    wide = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    assert key != batching.key(wide, (1, 8, 8), "cpu")


@pytest.mark.parametrize("attack", ["apgd-ce", "apgd-t", "fab-t"])
def test_the_batch_does_not_change_an_outcome(attack: str, digits: Any, small: Any) -> None:
    """The device's batch (here all 48 samples at once) gives the points of batches of 7:
    samples are attacked independently (FAB's rows that cross are evaluated apart)."""
    from dii_hpc.audit.evasion.torch_engine import apgd, fab
    from dii_hpc.audit.evasion.torch_engine.target import of

    target = of(digits[0])
    x, y = target.tensor(small[0]), target.labels(small[1])
    if attack == "fab-t":
        run = lambda b: fab.fab_targeted(target, x, y, norm=np.inf, eps=0.1,  # noqa: E731
                                         n_iter=15, n_target_classes=2, batch_size=b)
    else:
        loss = "ce" if attack == "apgd-ce" else "dlr-targeted"
        run = lambda b: apgd.apgd(target, x, y, norm=np.inf, eps=0.1, n_iter=15,  # noqa: E731
                                  loss=loss, n_target_classes=2, batch_size=b)
    whole, sevens = run(None), run(7)
    fooled = target.predict(whole).argmax(1) != y
    assert 0 < int(fooled.sum()) < len(y)  # not vacuous
    np.testing.assert_array_equal(fooled.numpy(), (target.predict(sevens).argmax(1) != y).numpy())
    np.testing.assert_allclose(whole.numpy(), sevens.numpy(), atol=1e-5)


@pytest.mark.parametrize("loss,stop_fooled", [("ce", False), ("dlr-targeted", False),
                                              ("dlr", True)])
def test_apgd_takes_no_gradient_at_its_last_iterate(loss: str, stop_fooled: bool, digits: Any,
                                                    small: Any) -> None:
    """AutoAttack's APGD takes n_iter + 1 gradients, but no step uses the last one: the
    engine runs n_iter + 1 forwards and n_iter backwards per run, with the points of the
    straightforward loop that takes every gradient (the last checkpoint included: with
    n_iter 10 one falls on the last iteration)."""
    from unittest import mock

    import torch

    from dii_hpc.audit.evasion.torch_engine import apgd
    from dii_hpc.audit.evasion.torch_engine.target import of

    target = of(digits[0])
    x, y = target.tensor(small[0][:24]), target.labels(small[1][:24])
    kw = {"norm": np.inf, "eps": 0.08, "n_iter": 10, "loss": loss, "n_target_classes": 1,
          "stop_fooled": stop_fooled, "batch_size": len(x)}  # no batch probe
    graphs: list[bool] = []
    target.logits = lambda v: (graphs.append(torch.is_grad_enabled()), target.module(v))[1]
    with mock.patch.object(torch.autograd, "grad", wraps=torch.autograd.grad) as backward:
        adv = apgd.apgd(target, x, y, **kw)
    assert backward.call_count == graphs.count(True) == kw["n_iter"]
    assert graphs.count(False) == 1 and len(graphs) == kw["n_iter"] + 1
    grad = apgd._grad
    with mock.patch.object(apgd, "_grad", lambda *a, backward=True: grad(*a)):
        every = apgd.apgd(target, x, y, **kw)
    assert torch.equal(adv, every)
    fooled = target.predict(adv).argmax(1) != y
    assert 0 < int(fooled.sum()) < len(y)  # not vacuous


def test_per_sample_seeds_are_numpy_seed_sequences() -> None:
    """The vectorised seeds of the random starts are SeedSequence's, word for word (zeros,
    the largest 32-bit words, and words beyond 32 bits, which take SeedSequence itself)."""
    from dii_hpc.audit.evasion.torch_engine import target

    rng = np.random.default_rng(0)
    index = np.r_[0, rng.integers(0, 2**32 - 1, 300), 2**32 - 2, 2**33]
    for seed, extra in [(0, 0), (2**32 + 5, 9007), (12345, 2**32 - 1), (-1, 1_000_003)]:
        got = target._seeds(seed, "apgd", index, extra)
        assert got == [target._seed(seed, "apgd", int(i), extra) for i in index]
