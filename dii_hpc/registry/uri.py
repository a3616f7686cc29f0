"""``models:/NAME/VERSION`` and ``models:/NAME@ALIAS``: a registered model wherever one is named.

Audit configs, ``predict --model`` and drift monitors build their models through `build`:
a reference that is a models URI loads the version (its recorded loader, called with the
registered weights, whose sha256 is checked first; the model carries ``weights_path``, the
blob it was built from, unless its loader set one, so an audit records the weights it ran
on); anything else goes to ``refs.build`` as before. `pin` turns an alias into the version it points at now, so that a job, its array
tasks and the record of what it ran all mean the same weights even if the alias moves.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dii_hpc.config import refs
from dii_hpc.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import StoreLike

PREFIX = "models:/"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))$")


@dataclass(frozen=True)
class ModelURI:
    name: str
    version: int | None = None  # None with alias None: the latest version
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"{PREFIX}{self.name}@{self.alias}"
        return f"{PREFIX}{self.name}/{self.version if self.version is not None else 'latest'}"


def is_uri(spec: Any) -> bool:
    """Whether ``spec`` names a registered model (a string starting with ``models:/``)."""
    return isinstance(spec, str) and spec.strip().startswith(PREFIX)


def parse(text: str, key: str = "model") -> ModelURI:
    from dii_hpc.registry import layout

    m = _URI.match(text.strip())
    if not m:
        raise BadInput(f"{key}: {text!r} is not a model URI (models:/NAME/VERSION or "
                       "models:/NAME@ALIAS)")
    name = layout.check_name(m["name"])
    if m["alias"] is not None:
        return ModelURI(name, alias=layout.check_alias(m["alias"]))
    if m["version"] == "latest":
        return ModelURI(name)
    if not m["version"].isdigit() or int(m["version"]) < 1:
        raise BadInput(f"{key}: {text!r}: version {m['version']!r} is not a number >= 1 "
                       "(or latest)")
    return ModelURI(name, version=int(m["version"]))


def _registry(store: StoreLike) -> Any:
    from dii_hpc.registry.registry import Registry

    return Registry(store)


def resolve(text: str, key: str = "model", store: StoreLike = None) -> dict[str, Any]:
    """The version record a URI names now (NotFound with close names for a mistyped one)."""
    ref = parse(text, key)
    return _registry(store).resolve(ref.name, ref.version, ref.alias)


def pin(text: str, key: str = "model", store: StoreLike = None) -> str:
    """``models:/NAME@ALIAS`` -> ``models:/NAME/VERSION`` (the version it holds now)."""
    record = resolve(text, key, store)
    return f"{PREFIX}{record['name']}/{record['version']}"


def weights_file(record: dict[str, Any], store_root: str | os.PathLike[str]) -> str:
    """The registered weights' blob, checked against the sha256 recorded at registration."""
    from pathlib import Path

    from dii_hpc.store.blobs import blob_path, file_sha256

    sha = record["weights"]["sha256"]
    path = blob_path(Path(store_root), sha)
    where = f"models:/{record['name']}/{record['version']}"
    if not path.is_file():
        raise BadInput(f"{where}: weights blob {path} is missing (was the training run "
                       f"{record.get('run_id')} deleted and the store garbage-collected?)")
    actual, _ = file_sha256(path)
    if actual != sha:
        raise BadInput(f"{where}: weights blob {path} has sha256 {actual[:12]}, "
                       f"registered {sha[:12]}")
    return str(path)


def factory_spec(record: dict[str, Any], store_root: str | os.PathLike[str]) -> dict[str, Any]:
    """The version as a ``refs.build`` spec: its loader, its params and the weights' path."""
    loader = record["loader"]
    params = {**(loader.get("params") or {}),
              loader.get("weights_param") or "weights": weights_file(record, store_root)}
    return {"factory": loader["factory"], "params": params}


def build(spec: Any, key: str = "model", *, store: StoreLike = None,
          search: Sequence[str | os.PathLike[str]] = ()) -> Any:
    """Build a model: a models URI through its version's loader, anything else by refs.build."""
    if not is_uri(spec):
        return refs.build(spec, key, search=search)
    registry = _registry(store)
    ref = parse(spec, key)
    record = registry.resolve(ref.name, ref.version, ref.alias)
    factory = factory_spec(record, registry.store.root)
    model = refs.build(factory, f"{key} {spec}")
    # The blob it was built from, unless its loader said: an audit records the weights it
    # loaded, and a gate accepts only audits of the version's own weights.
    if getattr(model, "weights_path", None) is None:
        with contextlib.suppress(AttributeError, TypeError):
            model.weights_path = factory["params"][record["loader"].get("weights_param") or "weights"]
    return model


def attach(spec: Any, kind: str, run_id: str, store: StoreLike = None) -> None:
    """Link run ``run_id`` to the version ``spec`` names (a no-op for other references)."""
    if not is_uri(spec):
        return
    registry = _registry(store)
    ref = parse(spec)
    record = registry.resolve(ref.name, ref.version, ref.alias)
    registry.attach(record["name"], record["version"], kind, run_id)
