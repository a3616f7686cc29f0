"""Aliases: a reader during 100 concurrent moves always sees a valid version; the history."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.registry import uri
from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from tests.registry.conftest import make_training_run

LOADER = "tests.registry.fixtures:constant"
MOVERS, MOVES_EACH = 4, 25  # 100 moves


def _move(root: str, worker: int, start: Any) -> None:
    reg = Registry(root)
    start.wait()
    for i in range(MOVES_EACH):
        reg.set_alias("m", 1 + (worker + i) % 3, "champion")


def _read(root: str, start: Any, stop: Any, out: Any) -> None:
    seen, bad = [], []
    start.wait()
    while not stop.is_set() or not seen:
        try:
            seen.append(int(uri.resolve("models:/m@champion", store=root)["version"]))
        except Exception as err:  # noqa: BLE001 - any failure to read is what the test counts
            bad.append(f"{type(err).__name__}: {err}")
    out.put((seen, bad))


def test_an_alias_read_during_100_concurrent_moves_is_always_a_valid_version(any_store: Path) -> None:
    store = Store(any_store)
    reg = Registry(store)
    run_id = make_training_run(store, weights=b"\x05")
    for _ in range(3):
        reg.register(run_id, "m", loader=LOADER)
    reg.set_alias("m", 1, "champion")
    ctx = mp.get_context("fork")
    start, stop, out = ctx.Barrier(MOVERS + 1), ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_read, args=(str(any_store), start, stop, out))
    movers = [ctx.Process(target=_move, args=(str(any_store), w, start)) for w in range(MOVERS)]
    for p in [reader, *movers]:
        p.start()
    for p in movers:
        p.join(120)
    stop.set()
    seen, bad = out.get(timeout=60)
    reader.join(30)
    assert [p.exitcode for p in movers] == [0] * MOVERS and reader.exitcode == 0
    assert bad == []
    assert seen and set(seen) <= {1, 2, 3}
    moves = [e for e in reg.show("m")["history"] if e["event"] == "alias"]
    assert len(moves) == 1 + MOVERS * MOVES_EACH
    assert reg.alias_version("m", "champion") in {1, 2, 3}


def test_alias_history_and_archive(store_path: Path, train_run: str) -> None:
    reg = Registry(store_path)
    for _ in range(2):
        reg.register(train_run, "m", loader=LOADER)
    reg.set_alias("m", 1, "champion")
    event = reg.set_alias("m", 2, "champion")
    assert event["previous"] == 1 and event["version"] == 2 and event["user"]
    shown = reg.show("m")
    assert shown["aliases"] == {"champion": 2}
    assert [v["aliases"] for v in shown["versions"]] == [[], ["champion"]]
    with pytest.raises(BadInput, match="holds alias champion; move it"):
        reg.archive("m", 2)
    reg.archive("m", 1)
    assert [v["status"] for v in reg.versions("m")] == ["archived", "active"]
    with pytest.raises(BadInput, match="is archived; an alias cannot point at it"):
        reg.set_alias("m", 1, "staging")
    assert uri.pin("models:/m/latest", store=store_path) == "models:/m/2"
    reg.archive("m", 1, restore=True)
    assert reg.versions("m")[0]["status"] == "active"


@pytest.mark.parametrize("alias", ["3", "bad alias", "a/b", "", "x@y"])
def test_an_alias_must_be_a_plain_name(store_path: Path, train_run: str, alias: str) -> None:
    reg = Registry(store_path)
    reg.register(train_run, "m", loader=LOADER)
    with pytest.raises(BadInput, match="is a plain name"):
        reg.set_alias("m", 1, alias)


@pytest.mark.parametrize("alias", ["latest", "Latest", "v1", "V12"])
def test_names_a_uri_already_gives_a_meaning_are_reserved(store_path: Path, train_run: str,
                                                          alias: str) -> None:
    """`models:/m@latest` would disagree with `models:/m/latest` the moment a newer version is
    registered; `v1` reads as version 1 (MLflow reserves both)."""
    reg = Registry(store_path)
    reg.register(train_run, "m", loader=LOADER)
    with pytest.raises(BadInput, match=f"alias '{alias}' is reserved"):
        reg.set_alias("m", 1, alias)
    with pytest.raises(BadInput, match="is reserved"):
        uri.parse(f"models:/m@{alias}")
    assert reg.show("m")["aliases"] == {}
