"""AutoAttack's standard: worst case per sample, blocks, the result, and its sanity flags."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dii_hpc.audit.evasion.autoattack import checks
from dii_hpc.audit.evasion.autoattack import standard as aa
from dii_hpc.errors import BadInput

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard with fewer iterations and queries: what is tested does not depend on them."""
    short = {"apgd-ce": {"n_iter": 20}, "apgd-t": {"n_iter": 20, "n_target_classes": 3},
             "fab-t": {"n_iter": 20, "n_target_classes": 3}, "square": {"n_queries": 300}}
    for name, change in short.items():
        box, fn, params = aa.STEPS[name]
        monkeypatch.setitem(aa.STEPS, name, (box, fn, {**params, **change}))
    for name in aa.RAND:
        box, fn, params = aa.RAND[name]
        monkeypatch.setitem(aa.RAND, name, (box, fn, {**params, "n_iter": 10, "eot_iter": 4}))


def _case(digits: Any, digits_eval: Any, n: int) -> tuple[Any, np.ndarray, np.ndarray]:
    x, y = digits_eval
    return digits[0], x[:n], y[:n]


def test_standard_is_the_per_sample_and_of_its_attacks(digits: Any, digits_eval: Any,
                                                       quick: None) -> None:
    from dii_hpc.audit.evasion.torch_engine.target import of

    model, x, y = _case(digits, digits_eval, 24)
    p = aa.plan(model, {"eps": 0.05})
    target = of(model)
    block = aa.run_block(target, x, y, np.arange(len(x)), p, seed=0)
    robust = block["fooled_by"] == -1
    alone = {name: aa.run_attack(target, name, target.tensor(x), target.labels(y),
                                 np.arange(len(x)), p, 0)[0].numpy() for name in p.steps}
    np.testing.assert_array_equal(robust, np.logical_and.reduce(list(alone.values())))
    assert robust.mean() <= min(flags.mean() for flags in alone.values())
    assert 0 < robust.sum() < (block["fooled_by"] != -2).sum()  # attacks broke some, not all


def test_blocks_merge_to_the_numbers_of_one_block(digits: Any, digits_eval: Any,
                                                  quick: None) -> None:
    from dii_hpc.audit.evasion.torch_engine.target import of

    model, x, y = _case(digits, digits_eval, 20)
    p, target = aa.plan(model, {"eps": 0.05}), of(model)
    whole = aa.run_block(target, x, y, np.arange(20), p, seed=1)
    parts = aa.merge([aa.run_block(target, x[:9], y[:9], np.arange(9), p, seed=1),
                      aa.run_block(target, x[9:], y[9:], np.arange(9, 20), p, seed=1)])
    for key in ("fooled_by", "curve", "zero_grad"):
        np.testing.assert_array_equal(whole[key], parts[key])


def test_apgd_ce_and_curve_give_the_flags_of_full_apgd_ce_runs(digits: Any, digits_eval: Any,
                                                              quick: None) -> None:
    """The evaluation's APGD-CE and its curve drop a sample at its first adversarial iterate
    (AutoAttack iterates on) and reuse the evaluation's own APGD-CE at eps: the samples
    full APGD-CE runs flag, eps by eps, so the same robust accuracies.

    Dropping samples changes the batch a sample's forward runs in, which may move a last
    bit on some CPU; so one sample of 40 per eps may differ, no more."""
    from dii_hpc.audit.evasion.torch_engine import apgd
    from dii_hpc.audit.evasion.torch_engine.target import of

    model, x, y = _case(digits, digits_eval, 40)
    p, target = aa.plan(model, {"eps": 0.05}), of(model)
    block = aa.run_block(target, x, y, np.arange(len(x)), p, seed=0)
    xt, yt = target.tensor(x), target.labels(y)
    params = p.steps["apgd-ce"][2]
    full = np.stack([(target.predict(apgd.apgd(target, xt, yt, norm=p.norm, eps=p.eps * m,
                                               seed=0, **params)).argmax(1) == yt).numpy()
                     for m in aa.CURVE])
    assert ((block["curve"] != full).sum(1) <= 1).all(), (block["curve"].sum(1), full.sum(1))
    after_ce = np.flatnonzero(block["fooled_by"] == 0)
    assert (~full[aa.CURVE.index(1.0)][after_ce]).sum() >= len(after_ce) - 1
    assert full[0].sum() > full[-1].sum() and full[0].any() and len(after_ce)  # not vacuous
    with pytest.raises(BadInput, match="untargeted"):
        apgd.apgd(target, xt, yt, norm=p.norm, eps=p.eps, loss="dlr-targeted",
                  stop_fooled=True)


def test_result_names_the_standard_and_is_clean_on_the_demo_model(
        digits: Any, quick: None) -> None:
    from dii_hpc.audit import engine
    from dii_hpc.audit.job import of

    cfg = {"model": "dii_hpc.examples.digits:digits_model",
           "data": "dii_hpc.examples.digits:digits_data", "n_samples": 16, "seed": 0,
           "standard": "autoattack", "params": {"eps": "16/255"}}
    result = engine.compute(of(cfg, "I", "evasion").replace(resume=False))
    std = result["standard"]
    assert std["name"] == "autoattack-standard (RobustBench)" and std["version"] == aa.VERSION
    assert std["comparable"] and std["variant"] == "standard" and std["eps_text"] == "16/255"
    assert [a["name"] for a in result["attacks"]] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert std["eps"] == pytest.approx(16 / 255)
    m = result["metrics"]
    assert m["robust_accuracy"] <= min(a["metrics"]["robust_accuracy"] for a in result["attacks"])
    assert m["robust_accuracy"] <= m["clean_accuracy"]
    assert "comparable with RobustBench" in result["summary"]
    assert all(f["ok"] for f in result["sanity"]), result["sanity"]
    assert {f["flag"] for f in result["sanity"]} == {
        "randomised_defence", "outputs_are_probabilities", "zero_gradients",
        "black_box_beats_white_box", "non_monotone_curve"}
    assert [p["eps"] for p in result["curves"]["robustness"]] == pytest.approx(
        [m_ * 16 / 255 for m_ in aa.CURVE])


@pytest.mark.parametrize("factory,eps,fired", [
    ("noisy_model", 0.05, {"randomised_defence"}),
    ("softmax_model", 0.05, {"outputs_are_probabilities"}),
    ("masked_model", 0.2, {"zero_gradients", "black_box_beats_white_box"}),
])
def test_each_flag_fires_on_a_model_built_to_trigger_it(factory: str, eps: float,
                                                         fired: set[str], digits: Any,
                                                         digits_eval: Any, quick: None) -> None:
    from tests.audit import autoattack_models

    model = getattr(autoattack_models, factory)()
    x, y = digits_eval
    result = aa.evaluate(model, x[:16], y[:16], {"eps": eps}, seed=0)
    bad = {f["flag"] for f in result["sanity"] if not f["ok"]}
    assert fired <= bad, result["sanity"]
    if factory == "noisy_model":  # rerun with EOT, and said so
        assert result["standard"]["variant"] == "rand" and not result["standard"]["comparable"]
        assert [a["name"] for a in result["attacks"]] == ["apgd-ce", "apgd-dlr"]
        assert result["attacks"][0]["params"]["eot_iter"] > 1
        flag = next(f for f in result["sanity"] if f["flag"] == "randomised_defence")
        assert "reran as AutoAttack's version 'rand'" in flag["detail"]
        assert "not comparable with RobustBench" in result["summary"]


def test_curve_and_black_box_checks_on_crafted_numbers() -> None:
    def pts(*accs: float) -> list[dict[str, float]]:
        return [{"eps": 0.01 * (i + 1), "robust_accuracy": a} for i, a in enumerate(accs)]

    assert checks.curve(pts(0.8, 0.5, 0.2, 0.0))["ok"]
    assert checks.curve(pts(0.0, 0.0, 0.0))["ok"]
    assert not checks.curve(pts(0.8, 0.5, 0.7, 0.1))["ok"]  # rises
    assert not checks.curve(pts(0.6, 0.6, 0.59, 0.6))["ok"]  # does not fall
    after = {"apgd-ce": 0.5, "apgd-t": 0.45, "fab-t": 0.45}
    assert checks.black_box({**after, "square": 0.45})["ok"]
    assert not checks.black_box({**after, "square": 0.40})["ok"]


class _ThreeClasses:
    task, input_shape, nb_classes, clip_values = "image_classification", (1, 4, 4), 3, (0., 1.)

    def predict(self, x: Any) -> Any:
        return np.zeros((len(x), 3))

    def get_loss(self, x: Any, y: Any) -> Any:
        return np.zeros(len(x))

    def get_grad(self, x: Any, y: Any) -> Any:
        return np.zeros_like(x)


def test_plan_follows_autoattack_defaults_and_says_where_it_deviates(digits: Any) -> None:
    p = aa.plan(digits[0], {})
    assert p.eps == pytest.approx(8 / 255) and p.eps_text.startswith("8/255")
    assert aa.plan(digits[0], {"norm": "2"}).eps == pytest.approx(0.5)
    assert aa.plan(digits[0], {"eps": "4/255"}).eps == pytest.approx(4 / 255)
    assert p.describe()["comparable"] and not p.deviations
    few = aa.plan(_ThreeClasses(), {})
    assert list(few.steps) == ["apgd-ce", "fab-t", "square"]
    assert few.steps["fab-t"][2]["n_target_classes"] == 2
    assert not few.describe()["comparable"] and len(few.deviations) == 2


@pytest.mark.parametrize("model,params,message", [
    ("predict_only", {}, "--standard autoattack needs model.get_grad(...)"),
    ("digits", {"eps": "abc"}, "--eps='abc' is not a number or a fraction such as 8/255"),
    ("digits", {"norm": "1"}, "--standard autoattack: norm 1 is not inf or 2"),
    ("digits", {"eps": "2"}, "eps=2 is outside (0, 1]"),
    ("digits", {"steps": 3}, "unknown parameter 'steps'"),
])
def test_bad_input_is_one_line(model: str, params: dict[str, Any], message: str,
                               digits: Any) -> None:
    from tests.audit.factories import predict_only

    m = digits[0] if model == "digits" else predict_only()
    with pytest.raises(BadInput) as err:
        aa.plan(m, params)
    assert message in str(err.value) and "\n" not in str(err.value)
