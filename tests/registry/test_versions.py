"""Version files: concurrent registration from real processes, placeholders, lineage."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.registry import layout, versions
from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from tests.registry.conftest import make_training_run

LOADER = "tests.registry.fixtures:constant"
N = 16


def _register(root: str, run_id: str, barrier: Any, out: Any) -> None:
    barrier.wait()  # every process allocates at the same moment
    record = Registry(root).register(run_id, "shared-model", loader=LOADER)
    out.put(record["version"])


def test_concurrent_registrations_get_versions_one_to_sixteen_each_complete(any_store: Path) -> None:
    store = Store(any_store)
    run_id = make_training_run(store, weights=b"\x07weights")
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(N), ctx.Queue()
    procs = [ctx.Process(target=_register, args=(str(any_store), run_id, barrier, out))
             for _ in range(N)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * N
    got = sorted(out.get(timeout=5) for _ in range(N))
    assert got == list(range(1, N + 1))
    rows = Registry(store).versions("shared-model")
    assert [r["version"] for r in rows] == list(range(1, N + 1))
    assert all(r["run_id"] == run_id and r["weights"]["artifact"] == "model.pt"
               and r["loader"]["factory"] == LOADER for r in rows)


def test_a_claimed_version_is_being_written_until_its_content_lands(store_path: Path,
                                                                    train_run: str) -> None:
    reg = Registry(store_path)
    reg.register(train_run, "m", loader=LOADER)
    claimed = versions.allocate(store_path, "m")  # a writer that has not written yet
    assert claimed == 2
    assert [r["version"] for r in reg.versions("m")] == [1]
    with pytest.raises(BadInput, match=r"models:/m/2 is being written"):
        reg.resolve("m", 2)
    assert reg.register(train_run, "m", loader=LOADER)["version"] == 3
    assert reg.resolve("m")["version"] == 3  # latest complete one


def test_lineage_of_a_plain_run(store_path: Path) -> None:
    store = Store(store_path)
    rid = make_training_run(store, params={"lr": 0.1}, weights=b"\x02", name="net.pt")
    v = Registry(store).register(rid, "plain", loader=LOADER, loader_params={"scale": 2.0},
                                 description="first")
    assert v["run"]["params"] == {"lr": 0.1} and v["run"]["metrics"] == {"val_acc": 0.9}
    assert v["weights"]["artifact"] == "net.pt" and len(v["weights"]["sha256"]) == 64
    assert v["loader"] == {"factory": LOADER, "params": {"scale": 2.0}, "weights_param": "weights"}
    assert v["code"] is None and v["config"] is None and v["description"] == "first"
    assert layout.version_file(store_path, "plain", 1).is_file()


def test_a_run_without_the_named_artifact_is_refused(store_path: Path, train_run: str) -> None:
    reg = Registry(store_path)
    with pytest.raises(BadInput, match=r"no artifact 'best\.pt' \(artifacts: model\.pt\)"):
        reg.register(train_run, "m", artifact="best.pt", loader=LOADER)
    with pytest.raises(BadInput, match="no loader recorded; give --loader"):
        reg.register(train_run, "m")
    assert reg.names() == []


@pytest.mark.parametrize("name", ["a/b", "a@b", ".hidden", "", "x" * 200])
def test_model_names_that_would_break_a_uri_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="invalid model name"):
        layout.check_name(name)


def test_store_gc_keeps_the_weights_of_a_registered_version(store_path: Path) -> None:
    """v1 is registered from a run that later logs a newer model.pt: no run names v1's
    weights any more, and `store gc` must still keep them (the registry does)."""
    from dii_hpc.registry.uri import weights_file
    from dii_hpc.store.blobs import blob_path
    from dii_hpc.store.gc import gc
    from dii_hpc.tracking.run import start_run
    from tests.conftest import run_cli

    store = Store(store_path)
    rid = make_training_run(store, weights=b"\x01first weights")
    v1 = Registry(store).register(rid, "kept", loader=LOADER)
    with start_run("train", run_id=rid, store=store) as run:  # training goes on
        (run.dir / "model.pt").write_bytes(b"\x02second weights")
        run.log_artifact(run.dir / "model.pt", name="model.pt")
    sha = v1["weights"]["sha256"]
    assert store.artifacts(rid)["model.pt"]["sha256"] != sha  # no run names it now
    assert gc(store, 0.0)["blobs"] == []  # from Python as from the CLI: the library keeps it
    proc = run_cli("store", "gc", "--older-than", "0s")
    assert proc.returncode == 0, proc.stderr
    assert "removed 0 blobs" in proc.stdout and blob_path(store_path, sha).is_file(), proc.stdout
    assert Path(weights_file(v1, store_path)).read_bytes() == b"\x01first weights"


def test_store_check_reports_a_version_whose_weights_are_gone(store_path: Path) -> None:
    from dii_hpc.store.blobs import blob_path
    from dii_hpc.store.check import check
    from dii_hpc.tracking.run import start_run
    from tests.conftest import run_cli

    store = Store(store_path)
    rid = make_training_run(store, weights=b"\x01w")
    v1 = Registry(store).register(rid, "gone", loader=LOADER)
    with start_run("train", run_id=rid, store=store) as run:  # no run names v1's weights now
        (run.dir / "model.pt").write_bytes(b"\x02newer")
        run.log_artifact(run.dir / "model.pt", name="model.pt")
    assert [p for p in check(store, permissions=False) if p.severity == "error"] == []
    blob_path(store_path, v1["weights"]["sha256"]).unlink()  # e.g. an older gc removed it
    errors = [str(p) for p in check(store, permissions=False) if p.severity == "error"]
    assert errors == [f"error: {layout.version_file(store_path, 'gone', 1)}: models:/gone/1: "
                      f"weights blob {v1['weights']['sha256'][:12]} is missing"]
    proc = run_cli("store", "check", "--no-permissions")
    assert proc.returncode == 1 and "models:/gone/1: weights blob" in proc.stdout, proc.stdout
