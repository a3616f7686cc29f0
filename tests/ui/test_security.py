"""The checks in front of every request, and `dii-hpc ui`'s refusal to listen beyond loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from dii_hpc.ui.security import Forbidden, confined, is_loopback, traversal
from tests.conftest import run_cli


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/static/../../../etc/passwd",
                                  "/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc%2fpasswd",
                                  "/%252e%252e/etc/passwd", "/files/..\\..\\etc/passwd"])
def test_climbing_paths_are_seen(path: str) -> None:
    assert traversal(path)


@pytest.mark.parametrize("path", ["/", "/runs/01ABC.html", "/static/app.js",
                                  "/api/runs/01ABC/metrics/train/loss", "/files/ab/x..y.png"])
def test_plain_paths_pass(path: str) -> None:
    assert not traversal(path)


def test_confined_follows_links(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("x")
    (root / "a" / "out").symlink_to("/etc/passwd")
    (root / "a" / "in").symlink_to(root / "a" / "f.txt")
    assert confined(root, root / "a" / "in") == (root / "a" / "f.txt").resolve()
    with pytest.raises(Forbidden):
        confined(root, root / "a" / "out")
    with pytest.raises(Forbidden):
        confined(root, root / ".." / "x")


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "login01", ""))


def test_a_remote_host_is_refused_without_allow_remote(store_path: Path) -> None:
    store_path.mkdir()
    res = run_cli("ui", "--host", "0.0.0.0", "--port", "0")
    assert res.returncode == 2
    assert "--allow-remote" in res.stderr and len(res.stderr.strip().splitlines()) == 1
