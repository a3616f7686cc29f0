"""`interval_bounds`: bound propagation is sound (sampled inputs and PGD never beat it), exact
on a network small enough to check by hand, and names the first layer it does not support."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.audit.conftest import cli

MLP = {"factory": "tests.audit.certification.models:digits_net", "params": {"arch": "mlp"}}


def _net(module: Any, shape: tuple[int, ...]) -> Any:
    from dii_hpc.audit.certification.bounds import network

    return network(module, shape)


def _range(net: Any, x: Any, eps: float, norm: float, method: str) -> tuple[Any, Any]:
    """(lower, upper) bounds of every logit over the ball of ``eps`` in [0, 1]."""
    import torch

    from dii_hpc.audit.certification.bounds import Region, lower_bounds

    k = int(net.weights[-1].shape[0])
    spec = torch.eye(k, dtype=torch.float64).expand(len(x), -1, -1)
    region = Region(x.flatten(1), torch.full((len(x),), eps, dtype=torch.float64), norm, 0.0,
                    1.0)
    return lower_bounds(net, region, spec, method), -lower_bounds(net, region, -spec, method)


def test_a_network_checked_by_hand_gets_its_exact_bounds() -> None:
    """f(x) = relu(x1 - x2) + relu(x1 + x2) at (0.5, 0.5), radius 0.1. Linf: IBP
    [0.8, 1.4]; CROWN's chord 0.5 h + 0.1 above the unstable neuron gives the upper bound
    1.5 x1 + 0.5 x2 + 0.1 <= 1.3. L2: the first layer's rows have norm sqrt 2, so IBP is
    [1 - 0.1 sqrt2, 1 + 0.2 sqrt2]; CROWN's chord is 0.5 h + 0.05 sqrt2 and the upper bound
    1 + 0.1 |(1.5, 0.5)| + 0.05 sqrt2."""
    import torch

    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with torch.no_grad():
        module[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        module[0].bias.zero_()
        module[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
        module[2].bias.zero_()
    net = _net(module, (2,))
    x = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    r2 = math.sqrt(2)
    expected = {("ibp", math.inf): (0.8, 1.4), ("crown", math.inf): (0.8, 1.3),
                ("ibp", 2.0): (1 - 0.1 * r2, 1 + 0.2 * r2),
                ("crown", 2.0): (1 - 0.1 * r2, 1 + 0.1 * math.hypot(1.5, 0.5) + 0.05 * r2)}
    for (method, norm), (lo, hi) in expected.items():
        low, up = _range(net, x, 0.1, norm, method)
        assert float(low) == pytest.approx(lo, abs=1e-12), (method, norm)
        assert float(up) == pytest.approx(hi, abs=1e-12), (method, norm)


def test_interval_bounds_equal_arts_on_a_network_art_converts() -> None:
    """ART 1.20's PyTorchIBPClassifier (Linear/ReLU children on flat inputs) gives the same
    Linf logit intervals as our IBP (ART computes in float32)."""
    import torch
    from art.estimators.certification.interval import PyTorchIBPClassifier

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 12),
                                 torch.nn.ReLU(), torch.nn.Linear(12, 5)).eval()
    x = torch.rand((8, 20), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    art = PyTorchIBPClassifier(module, torch.nn.CrossEntropyLoss(), input_shape=(20,),
                               nb_classes=5, clip_values=(0.0, 1.0), device_type="cpu")
    theirs = art.predict_intervals(x.numpy().astype(np.float32), bounds=0.05, limits=[0.0, 1.0])
    low, up = _range(_net(module, (20,)), x, 0.05, math.inf, "ibp")
    assert np.allclose(theirs[:, 0], low.numpy(), atol=1e-4)
    assert np.allclose(theirs[:, 1], up.numpy(), atol=1e-4)
    assert float((up - low).min()) > 0.01  # not a degenerate case


class _Custom:
    """A forward of its own (functional ReLU, view(size(0), -1)), BatchNorm, average pool."""

    @staticmethod
    def build() -> Any:
        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
                self.bn = torch.nn.BatchNorm2d(4)
                self.pool = torch.nn.AvgPool2d(2)
                self.fc = torch.nn.Linear(64, 16)
                self.out = torch.nn.Linear(16, 10)

            def forward(self, x: Any) -> Any:
                x = self.pool(torch.relu(self.bn(self.conv(x))))
                return self.out(torch.nn.functional.relu(self.fc(x.view(x.size(0), -1))))

        torch.manual_seed(0)
        net = Net().eval()
        with torch.no_grad():
            net.bn.running_mean.uniform_(-0.1, 0.1)
            net.bn.running_var.uniform_(0.5, 2.0)
        return net


@pytest.mark.parametrize("method", ["ibp", "crown"])
@pytest.mark.parametrize("norm", [math.inf, 2.0])
def test_every_point_of_the_ball_has_logits_within_the_bounds(method: str, norm: float) -> None:
    import torch

    module = _Custom.build()
    net = _net(module, (1, 8, 8))
    gen = torch.Generator().manual_seed(1)
    x = torch.rand((6, 1, 8, 8), generator=gen, dtype=torch.float64)
    eps = 0.05 if norm == math.inf else 0.3
    assert torch.allclose(net.logits(x.flatten(1)), module.double()(x), atol=1e-10)
    low, up = _range(net, x, eps, norm, method)
    assert bool((low < up).all())
    for _ in range(300):
        d = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        if norm == math.inf:  # corners of the box
            d = d.sign() * eps
        else:  # inside the ball, some on its sphere
            scale = eps * torch.rand((len(x), 1, 1, 1), generator=gen, dtype=torch.float64)
            d = d / d.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1) * scale.clamp(min=eps / 2)
        with torch.no_grad():
            z = module((x + d).clamp(0, 1))
        assert bool((z >= low - 1e-9).all()) and bool((z <= up + 1e-9).all())


@pytest.fixture(scope="module")
def mlp(demo_cache: Path) -> Any:
    from tests.audit.certification.models import digits_net

    return digits_net(arch="mlp")


@pytest.mark.parametrize("norm,eps", [("inf", 0.08), ("2", 0.5)])
def test_pgd_never_breaks_a_certified_sample(mlp: Any, digits_eval: tuple[Any, Any],
                                             norm: str, eps: float) -> None:
    """PGD at the certified radius changes no certified prediction, while it does change
    some that were not certified (the attack is not idle)."""
    import torch

    from dii_hpc.audit.certification import interval
    from dii_hpc.audit.evasion.torch_engine.pgd import pgd
    from dii_hpc.audit.evasion.torch_engine.target import of
    from dii_hpc.audit.specs import shape_of

    x, _ = digits_eval
    x = x[:120]
    opts = interval.options(shape_of(mlp), {"norm": norm, "radii": [eps], "steps": 1})
    pred, _, at = interval.certify(mlp, x, opts)
    ok = at[eps]
    assert 0.2 < ok.mean() < 0.95, ok.mean()
    target = of(mlp)
    x_adv = pgd(target, target.tensor(x), target.labels(pred), norm=np.inf if norm == "inf"
                else 2, eps=eps, eps_step=eps / 8, max_iter=40, num_random_init=3)
    after = target.predict(x_adv).argmax(dim=1).cpu().numpy()
    assert (after[ok] == pred[ok]).all()
    assert (after[~ok] != pred[~ok]).any()
    assert float(torch.as_tensor(x_adv - target.tensor(x)).flatten(1).norm(
        p=math.inf if norm == "inf" else 2, dim=1).max()) <= eps + 1e-5


def test_cli_writes_certified_accuracy_per_radius_and_the_samples(
        mlp: Any, store_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"model": MLP, "data": "dii_hpc.examples.digits:digits_data",
                                  "n_samples": 60, "seed": 0}))
    out = tmp_path / "out.json"
    assert cli("audit", "attack", "interval_bounds", "--config", str(config), "--param",
               "radii=0,0.05,0.1", "--param", "norm=inf", "--json", str(out)) == 0
    result = json.loads(out.read_text())
    metrics, samples = result["metrics"], result["samples"]
    curve = [metrics[f"certified_accuracy@{r}"] for r in ("0", "0.05", "0.1")]
    assert curve[0] == metrics["clean_accuracy"] > 0.8
    assert curve[0] >= curve[1] >= curve[2] and curve[1] > 0.3
    assert result["threat"] == "certification" and result["params"]["norm"] == "inf"
    radius, correct = np.asarray(samples["radius"]), np.asarray(samples["correct"])
    assert len(radius) == 60 and (np.asarray(samples["prediction"]) == np.asarray(
        samples["label"]))[correct].all()
    for r, value in zip((0.05, 0.1), curve[1:], strict=True):  # bisection's 1/2^16 of the span
        assert np.mean(correct & (radius >= r + 2e-5)) <= value <= np.mean(
            correct & (radius >= r - 2e-5))


def test_an_unsupported_layer_is_named_in_one_line(store_path: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The demo CNN max-pools: exit 2, the layer named, no traceback; `unsupported` agrees."""
    from dii_hpc.audit.certification import interval
    from dii_hpc.examples.digits import digits_model

    config = tmp_path / "audit.yaml"
    config.write_text("model: dii_hpc.examples.digits:digits_model\n"
                      "data: dii_hpc.examples.digits:digits_data\nn_samples: 10\n")
    assert cli("audit", "attack", "interval_bounds", "--config", str(config)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layer 4 (MaxPool2d) is not supported" in err
    assert "MaxPool2d" in str(interval.unsupported(digits_model()))


def test_the_certification_suite_runs_interval_bounds_beside_smoothing(
        mlp: Any, store_path: Path, tmp_path: Path) -> None:
    """On a model whose layers it supports, the suite joins interval_bounds (its L2 default,
    on smoothing's radii): its metrics, its record and its curve beside smoothing's."""
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"model": MLP, "data": "dii_hpc.examples.digits:digits_data",
                                  "n_samples": 30, "seed": 0,
                                  "params": {"n": 200, "n0": 20, "radii": [0, 0.25]}}))
    out = tmp_path / "out.json"
    assert cli("audit", "suite", "certification", "--config", str(config), "--json",
               str(out)) == 0
    result = json.loads(out.read_text())
    record = next(a for a in result["attacks"] if a["name"] == "interval_bounds")
    assert record["params"]["norm"] == "2" and record["params"]["radii"] == [0.0, 0.25]
    metrics = result["metrics"]
    assert metrics["interval_bounds.certified_accuracy@0"] == metrics["base_accuracy"]
    assert 0.3 < metrics["interval_bounds.certified_accuracy@0.25"] < metrics["base_accuracy"]
    assert [p["radius"] for p in result["curves"]["interval_bounds.certified_accuracy"]] == [
        0.0, 0.25]
