from __future__ import annotations

import pytest

from dii_hpc.errors import BadInput
from dii_hpc.store.names import check_experiment, check_key


@pytest.mark.parametrize("key", ["loss", "train/loss", "a/b/c-d_e.f", "sys/gpu0:util"])
def test_good_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "../x", "a/../../b", "/abs", "a//b", ".hidden", "a\\b", "x\x00"])
def test_keys_that_escape_are_refused(key: str) -> None:
    with pytest.raises(BadInput):
        check_key(key)


@pytest.mark.parametrize("name", ["", "a/b", "..", ".x", "a b"])
def test_bad_experiment_names(name: str) -> None:
    with pytest.raises(BadInput):
        check_experiment(name)
