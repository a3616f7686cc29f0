"""Registry fixtures: a store on tmp_path (and on the GlusterFS store when the test bed has it),
a training run with a weights artifact, and the demo-model cache for the whole session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import demo_cache  # noqa: F401 - the same session-wide cache

SHARED_MOUNT = Path("/mnt/dii-shared")


@pytest.fixture(params=["local", "shared"])
def any_store(request: pytest.FixtureRequest, store_path: Path) -> Path:
    """A store root on tmp_path, then on the shared filesystem (skipped where there is none)."""
    if request.param == "local":
        return store_path
    if not os.path.ismount(SHARED_MOUNT):
        pytest.skip(f"no shared filesystem mounted at {SHARED_MOUNT}")
    try:
        shared: Any = request.getfixturevalue("shared_store")
    except pytest.FixtureLookupError:
        pytest.skip("no shared_store fixture in this test bed")
    root = Path(shared if isinstance(shared, (str, os.PathLike)) else shared.root)  # path or Store
    request.getfixturevalue("monkeypatch").setenv("DII_HPC_STORE", str(root))
    return root


def make_training_run(store: Any, experiment: str = "train", params: dict[str, Any] | None = None,
                      weights: bytes | Path = b"w", name: str = "model.pt") -> str:
    """A FINISHED training run that logged ``weights`` as artifact ``name``; returns its id."""
    from dii_hpc.tracking.run import start_run

    with start_run(experiment, params=params or {}, store=store) as run:
        path = Path(weights) if isinstance(weights, Path) else Path(run.dir) / name
        if not isinstance(weights, Path):
            path.write_bytes(weights)
        run.log_artifact(path, name=name)
        run.log_metric("val_acc", 0.9)
    return run.id


@pytest.fixture()
def train_run(store_path: Path) -> str:
    from dii_hpc.store.store import Store

    return make_training_run(Store(store_path))
