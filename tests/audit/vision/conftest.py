"""Vision audit fixtures: the shapes demo models (trained once per session) and samples.

Tiny convolutions on a shared 2-core machine run several times faster on one torch
thread than on two, so this package's tests use one thread and restore the setting after
its last test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def detector(demo_cache: Path) -> Any:
    from dii_hpc.examples.shapes import shapes_detector

    return shapes_detector()


@pytest.fixture(scope="session")
def segmenter(demo_cache: Path) -> Any:
    from dii_hpc.examples.shapes import shapes_segmenter

    return shapes_segmenter()


@pytest.fixture(scope="session")
def det_sample() -> tuple[Any, Any]:
    """64 test images and their targets."""
    from dii_hpc.examples.shapes import detection_data

    x, t = detection_data(n_train=1, n_test=64).get_test_data()
    return x, t


@pytest.fixture(scope="session")
def seg_sample() -> tuple[Any, Any]:
    from dii_hpc.examples.shapes import segmentation_data

    return segmentation_data(n_train=1, n_test=64).get_test_data()
