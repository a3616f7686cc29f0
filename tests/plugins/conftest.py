"""The example plug-in package, installed for real (pip, offline) into a folder of the test's.

`plugin_path` builds and installs ``tests/plugins/example`` once per session with
``pip install --no-deps --no-build-isolation --no-index --target``: its entry points are then
what any installed plug-in's would be. `plugin_env` is the environment for a `dii-hpc`
subprocess that sees it; `plugins_loaded` makes this process see it too (and forgets it after).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent / "example"


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(EXAMPLE)],
                   check=True, cwd=build, capture_output=True, timeout=300,
                   env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    return target


@pytest.fixture()
def plugin_env(plugin_path: Path) -> dict[str, str]:
    """Environment for a subprocess that has the plug-in package installed."""
    old = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(plugin_path), old) if p)}


@pytest.fixture()
def plugins_loaded(plugin_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This process sees the plug-in package's entry points; every family forgets them after."""
    import importlib

    monkeypatch.syspath_prepend(str(plugin_path))
    importlib.invalidate_caches()
    _reset_families()
    yield plugin_path
    _reset_families()


def _reset_families() -> None:
    from dii_hpc import plugins

    plugins.reset_all()
