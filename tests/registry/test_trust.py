"""End to end through the CLI: a leaky (overfit) version fails the privacy policy that its
regularised successor passes; `models:/noisy@champion` then drives `audit attack` and `predict`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dii_hpc.cli.app import main
from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from dii_hpc.tracking.run import start_run

LEAKY = {"epochs": 60, "hidden": 128, "lr": 0.01}  # memorises the 30% label noise: mi_loss AUC ~0.61
REGULARISED = {"epochs": 20, "weight_decay": 0.01}  # AUC ~0.53
DATA = "dii_hpc.examples.tabular:noisy_data"
POLICY = 'audits:\n  - {attack: mi_loss, rules: {auc: "<= 0.57"}}\n'


def _train(store: Store, recipe: dict[str, Any]) -> str:
    from dii_hpc.examples.tabular import load, noisy_model

    model = noisy_model(**recipe)  # trained (and cached) by the demo's deterministic recipe
    with start_run("noisy-train", params=recipe, store=store) as run:
        run.log_input("noisy", load("noisy"), source="dii_hpc.examples.tabular:load('noisy')")
        run.log_artifact(model.weights_path, name="model.pt")
    return run.id


def _cli(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Store with two versions of `noisy`, each audited by mi_loss, and a policy file."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("trust") / "store"
    mp.setenv("DII_HPC_STORE", str(root))
    mp.delenv("DII_HPC_RUN_ID", raising=False)
    store = Store(root)
    runs = [_train(store, LEAKY), _train(store, REGULARISED)]
    for rid, recipe in zip(runs, (LEAKY, REGULARISED), strict=True):
        params = [x for k, v in recipe.items() for x in ("--param", f"{k}={v}")]
        assert _cli("models", "register", rid, "--name", "noisy",
                    "--loader", "dii_hpc.examples.tabular:noisy_model", *params) == 0
    for v in (1, 2):
        assert _cli("audit", "attack", "mi_loss", "--model", f"models:/noisy/{v}",
                    "--data", DATA, "--experiment", "noisy-audit") == 0
    policy = root.parent / "privacy-policy.yaml"
    policy.write_text(POLICY)
    yield {"root": root, "runs": runs, "policy": policy}
    mp.undo()


def test_a_leaky_version_fails_the_policy_its_regularised_successor_passes(
        noisy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    reg = Registry(noisy["root"])
    aucs = [reg.store.run(reg.version("noisy", v)["audits"][0])["audit"]["metrics"]["auc"]
            for v in (1, 2)]
    assert aucs[0] > 0.57 > aucs[1]
    capsys.readouterr()
    assert _cli("models", "promote", "noisy", 1, "--to", "champion", "--policy", noisy["policy"]) == 1
    out = capsys.readouterr()
    failed = [line for line in out.out.splitlines() if line.startswith("FAILED")]
    assert failed == [f"FAILED attack mi_loss: auc <= 0.57: auc = {aucs[0]:.4g} (run "
                      f"{reg.version('noisy', 1)['audits'][0]}), needs <= 0.57"]
    assert "models:/noisy/1 not promoted to champion: 1 of 2 rule(s) failed" in out.err
    assert reg.alias_version("noisy", "champion") is None
    junit = noisy["root"].parent / "gate.xml"
    assert _cli("models", "gate", "noisy", 2, "--policy", noisy["policy"], "--junit", junit) == 0
    assert 'failures="0"' in junit.read_text() and 'tests="2"' in junit.read_text()
    assert _cli("models", "promote", "noisy", 2, "--to", "champion", "--policy", noisy["policy"]) == 0
    assert reg.alias_version("noisy", "champion") == 2
    assert [d["passed"] for d in reg.version("noisy", 1)["decisions"]] == [False]
    assert [d["passed"] for d in reg.version("noisy", 2)["decisions"]] == [True]


def test_the_champion_alias_drives_audit_attack_and_predict(noisy: dict[str, Any],
                                                            tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from dii_hpc.examples.tabular import load

    reg = Registry(noisy["root"])
    if reg.alias_version("noisy", "champion") is None:
        reg.set_alias("noisy", 2, "champion")
    before = set(reg.version("noisy", 2)["audits"])
    assert _cli("audit", "attack", "mi_loss", "--model", "models:/noisy@champion",
                "--data", DATA, "--experiment", "noisy-audit") == 0
    (new,) = set(reg.version("noisy", 2)["audits"]) - before
    audit = reg.store.run(new)
    assert audit["params"]["model"] == "models:/noisy/2" and audit["parent_run"] == noisy["runs"][1]
    assert audit["manifest"]["weights_sha256"] == reg.resolve("noisy", 2)["weights"]["sha256"]

    d = load("noisy")
    csv = tmp_path / "batch.csv"
    pd.DataFrame(d["x_test"], columns=d["feature_names"]).to_csv(csv, index=False)
    out = tmp_path / "pred"
    assert _cli("predict", "--model", "models:/noisy@champion", "--data", csv, "--out", out,
                "--executor", "debug") == 0
    (deployment,) = reg.version("noisy", 2)["deployments"]
    section = reg.store.run(deployment)["inference"]
    assert section["model"] == "models:/noisy/2" and section["model_run"] == noisy["runs"][1]
    assert section["rows"] == len(d["x_test"])
    from dii_hpc.inference.output import read_outputs
    from dii_hpc.registry import uri

    pred = read_outputs(out)["output"]
    expected = uri.build("models:/noisy/2").predict(d["x_test"])
    np.testing.assert_allclose(pred.reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)
