"""Opening an MLflow tracking URI (or an ``mlruns`` folder) with MLflow's own client.

MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set - the store that
HPC users' old runs live in (mlflow #18534) - so reading one sets that flag for the duration
of the import only. A path is checked before MLflow sees it: MLflow would otherwise create
an empty store (or a new SQLite file) where the user mistyped one, and import nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dii_hpc.errors import BadInput
from dii_hpc.mlflow._entities import is_mlruns

_REMOTE = ("http", "https", "databricks", "postgresql", "mysql", "mssql")


def resolve_uri(uri_or_dir: str, *, must_exist: bool = True) -> str:
    """A tracking URI for ``uri_or_dir``: an existing ``mlruns`` folder or SQLite file given
    as a path or ``file:``/``sqlite:`` URI, or a server/database URI passed through."""
    parsed = urlparse(uri_or_dir)
    scheme = parsed.scheme.split("+")[0]
    if scheme in _REMOTE:
        return uri_or_dir
    if scheme == "sqlite":
        path = Path(uri_or_dir.split("sqlite:///", 1)[-1])
        if must_exist and not path.is_file():
            raise BadInput(f"MLflow store {uri_or_dir!r}: no SQLite file at {path}")
        check_sqlite(path, must_exist)
        return uri_or_dir
    if scheme == "file":
        path = Path(parsed.path)
    elif scheme in ("", ) or len(scheme) == 1:  # a plain path (or a Windows drive letter)
        path = Path(uri_or_dir).expanduser()
    else:
        raise BadInput(f"MLflow store {uri_or_dir!r}: unknown URI scheme {parsed.scheme!r}")
    path = path.absolute()
    if path.is_file():
        check_sqlite(path, must_exist)
        return f"sqlite:///{path}"
    if must_exist:
        check_mlruns(path)
    return path.as_uri()


_MLFLOW_TABLES = {"experiments", "runs"}


def check_sqlite(path: Path, must_exist: bool = True) -> None:
    """An existing file must be an SQLite database holding MLflow's tables: MLflow would fail
    on anything else with a raw DatabaseError, or write its schema into someone's database.
    An empty file is a new database (``export`` fills it), not something to import from."""
    import sqlite3

    if not path.is_file() or (path.stat().st_size == 0 and not must_exist):
        return
    if path.stat().st_size == 0:
        raise BadInput(f"{path} is an empty file, not an MLflow store")
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise sqlite3.DatabaseError("no SQLite header")
        with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro",
                                                uri=True)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise BadInput(f"{path} is not an MLflow store (neither an mlruns folder nor an "
                       f"SQLite database: {err})") from err
    if not _MLFLOW_TABLES.issubset(tables):
        raise BadInput(f"{path} is an SQLite database without MLflow's tables (experiments, "
                       "runs): not an MLflow store")


def check_mlruns(path: Path) -> None:
    """An mlruns folder holds experiment folders, each with a meta.yaml."""
    if not path.is_dir():
        raise BadInput(f"MLflow store {str(path)!r} does not exist")
    if not is_mlruns(path):
        raise BadInput(f"{path} is not an MLflow store (no experiment folder with a meta.yaml)")


@contextlib.contextmanager
def client(uri: str) -> Iterator[Any]:
    """An ``MlflowClient`` on ``uri``, with MLflow's file store allowed and its chatter quiet."""
    import_error = None
    try:
        from mlflow import MlflowClient
    except ImportError as err:  # pragma: no cover - depends on the environment
        import_error = err
    if import_error is not None:
        raise BadInput("MLflow is not installed: pip install 'dii-hpc[mlflow]'") from import_error
    saved = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    level = logging.getLogger("mlflow").level
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield MlflowClient(tracking_uri=uri)
    finally:
        logging.getLogger("mlflow").setLevel(level)
        if saved is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = saved


def paged(call: Any, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paged MLflow search (``search_runs``, ``search_experiments``)."""
    token = None
    while True:
        page = call(page_token=token, **kwargs)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return
