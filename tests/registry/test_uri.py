"""models:/ URIs: parsing, pinning, loading a version with its checked weights, drift monitors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.registry import uri
from dii_hpc.registry.registry import Registry
from dii_hpc.store.blobs import blob_path
from dii_hpc.store.store import Store
from tests.registry.conftest import make_training_run

LOADER = "tests.registry.fixtures:constant"


@pytest.mark.parametrize(("text", "parsed"), [
    ("models:/m/3", uri.ModelURI("m", version=3)),
    ("models:/m@champion", uri.ModelURI("m", alias="champion")),
    ("models:/m/latest", uri.ModelURI("m")),
])
def test_the_two_forms_and_latest(text: str, parsed: uri.ModelURI) -> None:
    assert uri.parse(text) == parsed and str(parsed) == text


@pytest.mark.parametrize(("text", "message"), [
    ("models:/m", "is not a model URI"),
    ("models:/m/3/4", "is not a model URI"),
    ("models:/m/0", "version '0' is not a number >= 1"),
    ("models:/m/x", "version 'x' is not a number >= 1"),
    ("models:/m@1x", "invalid alias '1x'"),
])
def test_malformed_uris(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        uri.parse(text, "--model")


def test_a_version_loads_itself_and_refuses_changed_weights(store_path: Path) -> None:
    store = Store(store_path)
    reg = Registry(store)
    rid = make_training_run(store, weights=b"\x04")
    reg.register(rid, "m", loader=LOADER, loader_params={"scale": 0.5})
    reg.set_alias("m", 1, "champion")
    model = uri.build("models:/m@champion", "model")
    assert model.value == 2.0 and model.scale == 0.5
    # it knows the blob it was built from (its loader did not say): an audit records it
    assert model.weights_path == str(blob_path(store_path, reg.resolve("m", 1)["weights"]["sha256"]))
    assert uri.pin("models:/m@champion") == "models:/m/1"
    blob = blob_path(store_path, reg.resolve("m", 1)["weights"]["sha256"])
    blob.chmod(0o644)
    blob.write_bytes(b"\x09")
    with pytest.raises(BadInput, match=r"models:/m/1: weights blob .* has sha256 .*, registered"):
        uri.build("models:/m/1", "model")
    uri.attach("not:a-model-uri", "audit", "X")  # other references are left alone
    assert reg.version("m", 1)["audits"] == []


def test_a_drift_monitor_profiles_a_registered_version_pinned(store_path: Path,
                                                             tmp_path: Path) -> None:
    import pandas as pd

    from dii_hpc.drift import monitor
    from dii_hpc.drift.options import DriftOptions
    from dii_hpc.examples.tabular import load, noisy_model

    recipe = {"epochs": 20, "weight_decay": 0.01}
    store = Store(store_path)
    rid = make_training_run(store, weights=Path(noisy_model(**recipe).weights_path))
    reg = Registry(store)
    reg.register(rid, "noisy", loader="dii_hpc.examples.tabular:noisy_model", loader_params=recipe)
    reg.set_alias("noisy", 1, "champion")
    d = load("noisy")
    ref = tmp_path / "ref.csv"
    pd.DataFrame(d["x_train"], columns=d["feature_names"]).to_csv(ref, index=False)
    prof = monitor.profile(store, "noisy-mon", str(ref), DriftOptions(), "models:/noisy@champion")
    assert prof.model == "models:/noisy/1" and prof.task is not None
    section = monitor.check_monitor(store, "noisy-mon", str(ref))
    assert section.multivariate["embedding_mmd"].drift is False
