"""The shared-FS zarr store passes zarr's own store test suite (it overrides private methods).

``zarr.testing.store.StoreTests`` is what zarr runs against its LocalStore; we run it against
`SharedFSStore` the way zarr's tests/test_store/test_local.py does. Its async tests and async
fixtures run on anyio's pytest plugin (asyncio backend; pytest-asyncio is not needed).
When a zarr release makes this fail, keep pyproject.toml's zarr bound below that release.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.abc.buffer import Buffer
from zarr.buffer import cpu
from zarr.testing.store import StoreTests

from dii_hpc.store.sharedfs import SharedFSStore
from dii_hpc.store.zstore import read_array, shared_fs_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TestSharedFSStore(StoreTests[SharedFSStore, cpu.Buffer]):
    store_cls = SharedFSStore
    buffer_cls = cpu.Buffer

    @pytest.fixture(autouse=True)
    def _async_fixtures(self, anyio_backend: str) -> None:
        """The suite's sync tests take async fixtures (``store``): anyio runs those only for
        tests that request its backend."""

    async def get(self, store: SharedFSStore, key: str) -> Buffer:
        return self.buffer_cls.from_bytes((store.root / key).read_bytes())

    async def set(self, store: SharedFSStore, key: str, value: Buffer) -> None:
        parent = (store.root / key).parent
        parent.mkdir(parents=True, exist_ok=True)
        (store.root / key).write_bytes(value.to_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        return {"root": str(tmp_path)}

    def test_store_repr(self, store: SharedFSStore) -> None:
        assert str(store) == f"file://{store.root.as_posix()}"

    def test_store_supports_writes(self, store: SharedFSStore) -> None:
        assert store.supports_writes

    def test_store_supports_partial_writes(self, store: SharedFSStore) -> None:
        assert not store.supports_partial_writes  # zarr 3.1 dropped partial writes

    def test_store_supports_listing(self, store: SharedFSStore) -> None:
        assert store.supports_listing

    async def test_writes_leave_no_temporary_files(self, store: SharedFSStore) -> None:
        await store.set("a/c/0", self.buffer_cls.from_bytes(b"x" * 100))
        store.set_sync("a/zarr.json", self.buffer_cls.from_bytes(b"{}"))
        await store.set_if_not_exists("a/c/0", self.buffer_cls.from_bytes(b"other"))
        names = sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
        assert names == ["a/c/0", "a/zarr.json"]
        assert (store.root / "a/c/0").read_bytes() == b"x" * 100


def test_a_zarr_array_written_through_it_reads_back_on_the_fast_path(tmp_path: Path) -> None:
    from dii_hpc.store.zstore import create_metric_array

    group = zarr.open_group(shared_fs_store(tmp_path / "m.zarr"), mode="a")
    arr = create_metric_array(group, "loss")
    rows = np.column_stack([np.arange(5.0), np.linspace(1, 0, 5), np.full(5, 1.7e9)])
    arr.resize((5, 3))
    arr[:] = rows
    np.testing.assert_array_equal(read_array(tmp_path / "m.zarr" / "loss"), rows)
    assert not [p for p in (tmp_path / "m.zarr").rglob("*.tmp")]
    assert sorted(os.listdir(tmp_path / "m.zarr" / "loss")) == ["c.0.0", "zarr.json"]
