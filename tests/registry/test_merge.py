"""`store merge` of two stores that each registered a `models:/clf/1`: versions by content."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.registry import aliases, events, links, versions
from dii_hpc.registry.registry import Registry
from dii_hpc.registry.uri import weights_file
from dii_hpc.store.store import Store
from dii_hpc.tracking.run import start_run
from tests.conftest import run_cli
from tests.registry.conftest import make_training_run

LOADER = "tests.registry.fixtures:constant"


def _cluster(root: Path, weights: bytes, alias: str) -> tuple[Registry, dict]:
    store = Store(root)
    reg = Registry(store)
    v1 = reg.register(make_training_run(store, weights=weights), "clf", loader=LOADER)
    reg.set_alias("clf", 1, alias, reason=f"chosen on {root.name}")
    return reg, v1


def test_a_version_number_taken_here_by_another_model_is_renumbered(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _, theirs = _cluster(a, b"\x01cluster A weights", "staging")
    links.attach(a, "clf", 1, "audit", "01AUDITOFAV1")
    _, ours = _cluster(b, b"\x02cluster B weights", "champion")
    proc = run_cli("store", "merge", str(a), str(b))
    assert proc.returncode == 0, proc.stderr
    assert f"models:/clf/1 of {a} is models:/clf/2 here" in proc.stdout, proc.stdout
    # ours is untouched: same record, same alias
    assert versions.read(b, "clf", 1) == ours and aliases.get(b, "clf", "champion") == 1
    moved = versions.read(b, "clf", 2)
    assert moved["run_id"] == theirs["run_id"] and moved["weights"] == theirs["weights"]
    assert moved["merged_from"] == {"store": str(a), "version": 1}
    assert Path(weights_file(moved, b)).read_bytes() == b"\x01cluster A weights"  # blob came too
    assert aliases.get(b, "clf", "staging") == 2  # their alias follows their model
    assert [link["run_id"] for link in links.of(b, "clf", 2)] == ["01AUDITOFAV1"]
    assert links.of(b, "clf", 1) == []
    moves = {(e["alias"], e["version"]) for e in events.read_all(b, "clf") if e["event"] == "alias"}
    assert moves == {("champion", 1), ("staging", 2)}
    again = run_cli("store", "merge", str(a), str(b))  # merging twice changes nothing
    assert again.returncode == 0 and versions.numbers(b, "clf") == [1, 2], again.stdout
    assert "is models:/clf/2 here" in again.stdout and len(events.read_all(b, "clf")) == 2


def test_versions_the_destination_lacks_keep_their_numbers(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    reg, v1 = _cluster(a, b"\x01w", "champion")
    v2 = reg.register(v1["run_id"], "clf", loader=LOADER, description="second")
    dry = run_cli("store", "merge", "--dry-run", str(a), str(b))
    assert dry.returncode == 0 and not (b / "models").exists(), dry.stdout
    proc = run_cli("store", "merge", str(a), str(b))
    assert proc.returncode == 0 and "is models:/" not in proc.stdout, proc.stdout
    assert [versions.read(b, "clf", n) for n in (1, 2)] == [v1, v2]
    assert aliases.get(b, "clf", "champion") == 1


def test_merging_from_python_keeps_every_version_and_the_gate_its_own_audits(
        tmp_path: Path) -> None:
    """`store.merge.merge(src, dst)` with no other argument merges the registry by content (the
    CLI adds nothing): A's audit of its own clf/1 never becomes evidence for B's clf/1."""
    from dii_hpc.store.merge import merge

    a, b = tmp_path / "a", tmp_path / "b"
    reg_a, theirs = _cluster(a, b"\x01cluster A weights", "champion")
    with start_run("audits", kind="audit", store=reg_a.store) as audit:
        audit.set_section("audit", {"suite": "evasion", "metrics": {"robust_accuracy": 0.9}})
        audit.set_manifest({"weights_sha256": theirs["weights"]["sha256"]})
    reg_a.attach("clf", 1, "audit", audit.id)
    reg_b, ours = _cluster(b, b"\x02cluster B weights", "champion")
    res = merge(Store(a), Store(b))
    assert versions.read(b, "clf", 1) == ours and versions.read(b, "clf", 2)["run_id"] == theirs["run_id"]
    assert aliases.get(b, "clf", "champion") == 1  # the destination's alias stands...
    assert (f"alias models:/clf@champion: kept models:/clf/1 of this store, dropped {a}'s (its "
            "version 1, models:/clf/2 here)") in res["notes"]  # ...and the note says so
    policy = tmp_path / "policy.yaml"
    policy.write_text('audits:\n  - {suite: evasion, rules: {robust_accuracy: ">= 0.5"}}\n')
    assert not reg_b.gate("clf", 1, policy).passed
    assert reg_b.gate("clf", 2, policy).passed  # their model, their audit


def test_the_cli_prints_which_alias_was_kept_and_which_dropped(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _cluster(a, b"\x01A", "champion")
    _cluster(b, b"\x02B", "champion")
    proc = run_cli("store", "merge", str(a), str(b))
    assert proc.returncode == 0, proc.stderr
    assert (f"alias models:/clf@champion: kept models:/clf/1 of this store, dropped {a}'s "
            "(its version 1, models:/clf/2 here)") in proc.stdout.splitlines()


@pytest.mark.parametrize("layout", ["empty", "photos", "mlruns"])
def test_a_folder_that_is_not_a_store_is_refused(tmp_path: Path, layout: str) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    if layout == "photos":
        (src / "holiday").mkdir()
        (src / "holiday" / "beach.jpg").write_bytes(b"\xff\xd8")
    elif layout == "mlruns":  # an MLflow file store has models/ too
        (src / "0").mkdir()
        (src / "0" / "meta.yaml").write_text("name: Default\n")
        (src / "models" / "clf").mkdir(parents=True)
    proc = run_cli("store", "merge", str(src), str(dst))
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.strip().splitlines() == [
        f"dii-hpc: error: {src} is not a dii-hpc store (it has none of blobs/, experiments/, "
        "jobs/); nothing was merged"]
    assert not dst.exists()
