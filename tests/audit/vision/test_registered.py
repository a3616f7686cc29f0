"""A registered detector or segmentation network is audited through `models:/NAME@ALIAS`
like any other model: the version's loader builds it, the audit is attached to the version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.audit.conftest import cli


@pytest.mark.parametrize("task,loader,metric,says_task", [
    ("object_detection", "dii_hpc.examples.shapes:shapes_detector", "clean_map_50", True),
    # no `task:` in the config: the registered model says what it is
    ("image_segmentation", "dii_hpc.examples.shapes:shapes_segmenter", "clean_miou", False)])
def test_registered_vision_model_is_audited_and_attached(
        task: str, loader: str, metric: str, says_task: bool, store_path: Path,
        detector: Any, segmenter: Any, tmp_path: Path) -> None:
    from dii_hpc.registry.registry import Registry
    from dii_hpc.store.store import Store
    from dii_hpc.tracking.run import start_run

    model = detector if task == "object_detection" else segmenter
    store = Store(store_path)
    with start_run("shapes-train", store=store) as run:
        run.log_artifact(model.weights_path, name="model.pt")
    reg = Registry(store)
    reg.register(run.id, "shapes", loader=loader)
    reg.set_alias("shapes", 1, "champion")
    config = tmp_path / "audit.yaml"
    config.write_text("model: models:/shapes@champion\ndata: dii_hpc.examples.shapes:"
                      f"{'detection' if task == 'object_detection' else 'segmentation'}_data\n"
                      "experiment: shapes-audit\n" + (f"task: {task}\n" if says_task else ""))
    assert cli("audit", "attack", "fgsm", "--config", str(config), "--n-samples", "8") == 0

    (audit_id,) = reg.version("shapes", 1)["audits"]
    record = store.run(audit_id)
    assert record["audit"]["task"] == task and record["audit"]["metrics"][metric] > 0.5
    assert record["params"]["model"] == "models:/shapes/1" and record["parent_run"] == run.id
    assert record["manifest"]["weights_sha256"] == reg.resolve("shapes", 1)["weights"]["sha256"]
