"""A drift monitor's profile: what `dii-hpc drift profile` keeps under ``<store>/monitors/<name>/``.

    profile.json       the `MonitorProfile` (options, columns, model, reference performance)
    reference.parquet  the reference table (monitors of tables)
    extras.npz         reference predictions / labels / model embeddings / class scores
    reference.sketch   the reference's merged sketch profile (monitors made with ``--sketch``)

Every file is written atomically and profile.json last, so a check running on another node
never sees half a profile (a profile without its table is never visible). The drift package
writes monitors; the drift checks, `predict --monitor`, the registry's drift rule and
`drift schedule` read them here. ``options`` stays a mapping: the drift package validates it
with its options model (records know formats, not the drift rules).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from dii_hpc.errors import BadInput, NotFound
from dii_hpc.records.drift import Calibration

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from dii_hpc.store.store import Store

PROFILE, REFERENCE, EXTRAS = "profile.json", "reference.parquet", "extras.npz"
SKETCH = "reference.sketch"


class MonitorProfile(BaseModel):
    """A monitor's reference, as its checks need it."""

    model_config = ConfigDict(extra="allow")  # later fields of newer versions are kept

    name: str
    created: float
    kind: Literal["table", "array"]   # a table of features, or model input (images, series)
    source: str                       # the reference file
    n_rows: int
    options: dict[str, Any] = {}      # the drift options every check of the monitor uses
    model: str | None = None          # module:callable or a pinned models:/ URI
    columns: list[str] | None = None
    task: str | None = None           # "classification" | "regression" (from labels/predictions)
    reference_performance: dict[str, float] | None = None
    estimator: str | None = None      # "cbpe" | "dle": performance estimated without labels
    calibration: Calibration | None = None  # CBPE's check of the reference's calibration


def root(store: Store) -> Path:
    return Path(store.root) / "monitors"


def folder(store: Store, name: str) -> Path:
    """The monitor's folder (the name is checked like an experiment's: it is one)."""
    from dii_hpc.store.names import check_experiment

    return root(store) / check_experiment(name)


def names(store: Store) -> list[str]:
    """Every monitor of the store (those with a profile), sorted."""
    base = root(store)
    return sorted(p.parent.name for p in base.glob(f"*/{PROFILE}")) if base.is_dir() else []


def exists(store: Store, name: str) -> bool:
    return (root(store) / name / PROFILE).is_file()


def read(store: Store, name: str) -> MonitorProfile:
    """The profile of monitor ``name``; an unknown name is NotFound with close names."""
    from dii_hpc.store.atomic import read_json

    path = folder(store, name) / PROFILE
    if not path.is_file():
        raise NotFound("monitor", name, names(store))
    try:
        return MonitorProfile.model_validate(read_json(path))
    except ValidationError as err:
        raise BadInput(f"{path}: not a monitor profile ({err.errors()[0]['loc']}: "
                       f"{err.errors()[0]['msg']}); make it again with `dii-hpc drift profile`") \
            from err


def write(store: Store, profile: MonitorProfile, reference: pd.DataFrame | None,
          extras: dict[str, np.ndarray], sketch: bytes | None = None) -> Path:
    """Save a monitor (its reference table, extras or sketch first, the profile last); files
    of an earlier profile of the same name that this one does not have are removed."""
    from dii_hpc.store.atomic import dumps, write_bytes

    where = folder(store, profile.name)
    for part, content in ((REFERENCE, _parquet(reference)), (EXTRAS, _npz(extras)),
                          (SKETCH, sketch)):
        if content is None:
            (where / part).unlink(missing_ok=True)
        else:
            write_bytes(where / part, content)
    write_bytes(where / PROFILE, dumps(profile.model_dump()))
    return where


def read_reference(store: Store, name: str) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(folder(store, name) / REFERENCE)


def read_extras(store: Store, name: str) -> dict[str, np.ndarray]:
    """The reference's predictions / labels / embeddings (empty when the monitor has none)."""
    import numpy as np

    path = folder(store, name) / EXTRAS
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _parquet(frame: pd.DataFrame | None) -> bytes | None:
    if frame is None:
        return None
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes | None:
    if not arrays:
        return None
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()
