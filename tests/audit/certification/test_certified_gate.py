"""A policy on certified accuracy (`certified_accuracy@0.25: ">= 0.5"`, a metric name with
'@' and '.') gates real `interval_bounds` audits of registered versions: the certifiably
robust one is promoted, the other refused with the number that failed."""

from __future__ import annotations

from pathlib import Path

from tests.audit.conftest import cli

LOADER = "tests.audit.certification.models:digits_net"
POLICY = """audits:
  - attack: interval_bounds
    rules:
      certified_accuracy@0.25: ">= 0.5"
"""


def test_certified_accuracy_promotes_one_version_and_refuses_the_other(
        store_path: Path, tmp_path: Path, demo_cache: Path) -> None:
    from dii_hpc.registry.registry import Registry
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import start_run
    from tests.audit.certification.models import digits_net

    store = Store(store_path)
    reg = Registry(store)
    # v1: the MLP trained with noise (L2 radius 0.25 certified on ~3/4 of digits);
    # v2: the small CNN trained without noise (~1/4)
    for arch, sigma in (("mlp", 0.25), ("cnn", 0.0)):
        model = digits_net(arch=arch, sigma=sigma)
        with start_run("digits-train", store=store) as run:
            run.log_artifact(model.weights_path, name="model.pt")
        reg.register(run.id, "digits", loader=LOADER, loader_params={"arch": arch})
    for version in (1, 2):
        config = tmp_path / f"audit-{version}.yaml"
        config.write_text(f"model: models:/digits/{version}\n"
                          "data: dii_hpc.examples.digits:digits_data\nn_samples: 60\n")
        assert cli("audit", "attack", "interval_bounds", "--config", str(config),
                   "--param", "radii=0,0.25", "--param", "norm=2") == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)

    assert cli("models", "promote", "digits", "1", "--to", "champion",
               "--policy", str(policy)) == 0
    assert cli("models", "promote", "digits", "2", "--to", "champion",
               "--policy", str(policy)) == 1
    assert reg.alias_version("digits", "champion") == 1
    (audit_1,) = reg.version("digits", 1)["audits"]
    passed = store.run(audit_1)["audit"]["metrics"]["certified_accuracy@0.25"]
    assert passed >= 0.6
    failure = reg.gate("digits", 2, policy).failures()
    assert len(failure) == 1 and "attack interval_bounds: certified_accuracy@0.25 >= 0.5: " \
        "certified_accuracy@0.25 = 0." in failure[0], failure
