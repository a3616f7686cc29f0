"""Metric arrays appended without zarr's event loop must stay plain zarr v3 arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from dii_hpc.store.appender import ChunkAppender, create_metric_files
from dii_hpc.store.zstore import CHUNK_ROWS, read_array, shared_fs_store


def _rows(start: int, n: int) -> np.ndarray:
    steps = np.arange(start, start + n, dtype="float64")
    return np.column_stack((steps, np.sin(steps), 1.7e9 + steps * 0.01))


def _zarr_read(root: Path, key: str) -> np.ndarray:
    group = zarr.open_group(shared_fs_store(root, read_only=True), mode="r")
    return np.asarray(group[key][:])


@pytest.mark.parametrize("sizes", [[5], [CHUNK_ROWS], [3, CHUNK_ROWS * 2 + 7, 1], [CHUNK_ROWS - 1, 2, CHUNK_ROWS * 3]])
def test_appends_read_back_through_zarr_and_the_fast_reader(tmp_path: Path, sizes: list[int]) -> None:
    root = tmp_path / "metrics.zarr"
    create_metric_files(root, "train/loss")
    app = ChunkAppender(root / "train" / "loss", 0)
    start = 0
    for n in sizes:
        app.append(_rows(start, n))
        start += n
    expected = _rows(0, start)
    np.testing.assert_array_equal(_zarr_read(root, "train/loss"), expected)
    np.testing.assert_array_equal(read_array(root / "train" / "loss"), expected)
    group = zarr.open_group(shared_fs_store(root, read_only=True), mode="r")
    assert group["train"]["loss"].attrs["columns"] == ["step", "value", "time"]


def test_a_reopened_appender_continues_the_partial_chunk(tmp_path: Path) -> None:
    root = tmp_path / "metrics.zarr"
    create_metric_files(root, "x")
    ChunkAppender(root / "x", 0).append(_rows(0, 10))
    again = ChunkAppender(root / "x", 10)  # a requeued writer
    again.append(_rows(10, CHUNK_ROWS))
    np.testing.assert_array_equal(_zarr_read(root, "x"), _rows(0, CHUNK_ROWS + 10))


def test_arrays_of_the_earlier_zstd_layout_are_appended_in_place(tmp_path: Path) -> None:
    root = tmp_path / "metrics.zarr"
    group = zarr.open_group(shared_fs_store(root), mode="a")
    group.create_array("old", shape=(0, 3), chunks=(CHUNK_ROWS, 3), dtype="float64",
                       fill_value=np.nan, compressors=zarr.codecs.ZstdCodec(level=0))
    ChunkAppender(root / "old", 0).append(_rows(0, 100))
    ChunkAppender(root / "old", 100).append(_rows(100, 50))
    np.testing.assert_array_equal(_zarr_read(root, "old"), _rows(0, 150))
    np.testing.assert_array_equal(read_array(root / "old"), _rows(0, 150))


def test_arrays_of_another_layout_are_appended_through_zarr(tmp_path: Path) -> None:
    root = tmp_path / "metrics.zarr"
    group = zarr.open_group(shared_fs_store(root), mode="a")
    group.create_array("gz", shape=(0, 3), chunks=(64, 3), dtype="float64", fill_value=np.nan,
                       compressors=zarr.codecs.GzipCodec())
    ChunkAppender(root / "gz", 0).append(_rows(0, 100))
    np.testing.assert_array_equal(read_array(root / "gz"), _rows(0, 100))


def test_a_forked_child_appends_many_chunks_with_its_own_threads(tmp_path: Path) -> None:
    import multiprocessing as mp

    root = tmp_path / "metrics.zarr"
    create_metric_files(root, "parent")
    ChunkAppender(root / "parent", 0).append(_rows(0, CHUNK_ROWS * 3))  # the pool now exists

    def child() -> None:
        create_metric_files(root, "child")
        ChunkAppender(root / "child", 0).append(_rows(0, CHUNK_ROWS * 3))

    proc = mp.get_context("fork").Process(target=child)
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    np.testing.assert_array_equal(read_array(root / "child"), _rows(0, CHUNK_ROWS * 3))


def test_a_new_array_is_one_folder_beside_its_groups_and_no_temporary_is_left(
        tmp_path: Path) -> None:
    from dii_hpc.store.metrics import MetricWriter

    MetricWriter(tmp_path).append("train/loss", _rows(0, 5))
    root = tmp_path / "metrics.zarr"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "train", "train/loss", "train/loss/c.0.0", "train/loss/zarr.json", "train/zarr.json",
        "zarr.json"]  # "." chunk keys: no c/0/ folders
    np.testing.assert_array_equal(_zarr_read(root, "train/loss"), _rows(0, 5))
    np.testing.assert_array_equal(read_array(root / "train" / "loss"), _rows(0, 5))


def test_a_chunk_the_published_shape_covers_is_replaced_never_rewritten_in_place(
        tmp_path: Path) -> None:
    """A reader may be reading it: the partial chunk re-encoded with new rows goes out by
    rename (a hard link to the old file keeps the old bytes)."""
    import os

    root = tmp_path / "metrics.zarr"
    create_metric_files(root, "x")
    app = ChunkAppender(root / "x", 0)
    app.append(_rows(0, 5))
    held = tmp_path / "held"
    os.link(root / "x" / "c.0.0", held)
    before = held.read_bytes()
    app.append(_rows(5, 3))
    assert held.read_bytes() == before
    assert (root / "x" / "c.0.0").read_bytes() != before
    np.testing.assert_array_equal(read_array(root / "x"), _rows(0, 8))


def test_arrays_of_the_earlier_slash_keyed_layout_are_appended_in_place(tmp_path: Path) -> None:
    """Runs of earlier versions: blosc arrays with "/" chunk keys (``c/<i>/0``)."""
    import os

    root = tmp_path / "metrics.zarr"
    group = zarr.open_group(shared_fs_store(root), mode="a")
    group.create_array("old", shape=(0, 3), chunks=(CHUNK_ROWS, 3), dtype="float64",
                       fill_value=np.nan, compressors=zarr.codecs.BloscCodec(
                           cname="blosclz", clevel=5, shuffle="shuffle", typesize=8))
    ChunkAppender(root / "old", 0).append(_rows(0, CHUNK_ROWS + 5))
    ChunkAppender(root / "old", CHUNK_ROWS + 5).append(_rows(CHUNK_ROWS + 5, 10))
    assert sorted(os.listdir(root / "old" / "c")) == ["0", "1"]
    np.testing.assert_array_equal(_zarr_read(root, "old"), _rows(0, CHUNK_ROWS + 15))
    np.testing.assert_array_equal(read_array(root / "old"), _rows(0, CHUNK_ROWS + 15))
