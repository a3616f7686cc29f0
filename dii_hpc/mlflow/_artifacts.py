"""MLflow's artifact calls: files, folders, dicts, text and figures, as content-addressed
artifacts of the active run. An artifact's name is its MLflow path (``artifact_path`` plus
the file name), so ``log_text(t, "notes/a.txt")`` is the artifact ``notes/a.txt`` here too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dii_hpc.errors import BadInput, NotSupported
from dii_hpc.mlflow._fluent import _only_active


def _name(artifact_path: str | None, file_name: str) -> str:
    return f"{artifact_path.strip('/')}/{file_name}" if artifact_path else file_name


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None,
                 run_id: str | None = None) -> None:
    run = _only_active("log_artifact", run_id)
    run.log_artifact(local_path, name=_name(artifact_path, Path(local_path).name))


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None,
                  run_id: str | None = None) -> None:
    run = _only_active("log_artifacts", run_id)
    root = Path(local_dir)
    if not root.is_dir():
        raise BadInput(f"log_artifacts: {str(local_dir)!r} is not a folder")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        run.log_artifact(path, name=_name(artifact_path, path.relative_to(root).as_posix()))


def _log_bytes(fn: str, data: bytes, artifact_file: str, run_id: str | None) -> None:
    run = _only_active(fn, run_id)
    with tempfile.TemporaryDirectory(prefix="dii-mlflow-") as tmp:
        path = Path(tmp) / "artifact"
        path.write_bytes(data)
        run.log_artifact(path, name=artifact_file)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    _log_bytes("log_text", str(text).encode(), artifact_file, run_id)


def log_dict(dictionary: dict[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    """JSON, or YAML when the file name ends in .yaml/.yml (as MLflow decides)."""
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False).encode()
    else:
        from dii_hpc.store.atomic import dumps

        data = dumps(dictionary, indent=2)  # the store's one encoder: nan as "nan"
    _log_bytes("log_dict", data, artifact_file, run_id)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
               ) -> None:
    """A matplotlib figure, saved in the format its file name says."""
    if not hasattr(figure, "savefig"):
        raise NotSupported(f"dii_hpc.mlflow.log_figure supports matplotlib figures, not "
                           f"{type(figure).__name__}")
    import io

    buf = io.BytesIO()
    fmt = Path(artifact_file).suffix.lstrip(".") or "png"
    figure.savefig(buf, format=fmt, **(save_kwargs or {}))
    _log_bytes("log_figure", buf.getvalue(), artifact_file, None)
