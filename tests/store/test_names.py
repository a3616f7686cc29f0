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


@pytest.mark.parametrize("key", ["épsilon", "损失", "train/损失", "Ωmega:2", "cafe\u0301"])
def test_letters_of_any_script_are_accepted(key: str) -> None:
    """#14 item 14: "épsilon" and "损失" were refused as "outside letters"."""
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["a\u202eb", "zero\u200bwidth", "tab\there", "new\nline"])
def test_invisible_and_control_characters_are_still_refused(key: str) -> None:
    with pytest.raises(BadInput, match="has characters outside letters"):
        check_key(key)


def test_a_long_key_says_it_is_too_long_without_echoing_it_whole() -> None:
    """#14 item 14: a 254+ character key was "must be a non-empty string", echoed whole."""
    key = "k" * 300
    with pytest.raises(BadInput) as err:
        check_key(key)
    message = str(err.value)
    assert "is 300 characters long; at most 250" in message and len(message) < 160, message
    with pytest.raises(BadInput, match="must be a non-empty string"):
        check_key("")
    with pytest.raises(BadInput, match="bytes in UTF-8; at most 255"):
        check_key("损" * 90)   # 90 characters, 270 bytes: more than a file name may hold


@pytest.mark.parametrize("key", ["zarr.json", "q/zarr.json", "a/zarr.json/b", "ZARR.JSON", "x/Zarr.Json"])
def test_keys_named_like_the_stores_own_files_are_refused(key: str) -> None:
    """#14 item 5: `zarr.json` was accepted, then crashed at run end (the run stayed RUNNING)."""
    with pytest.raises(BadInput) as err:
        check_key(key)
    assert "zarr.json" in str(err.value).lower() and "the store's own" in str(err.value)
    assert str(err.value).count("\n") == 0


@pytest.mark.parametrize("key", ["c", "c/d", "x/c/0", "zarr", "json", "zarr.json2", "my.zarr.json"])
def test_names_close_to_the_stores_files_are_fine(key: str) -> None:
    assert check_key(key) == key
