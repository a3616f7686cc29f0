"""A pipeline stage kind as a plug-in writes one: ``checksum`` hashes a file into its outputs.

    stages:
      data: {command: "python make_data.py {work}/data.csv"}
      hash: {checksum: {file: "{work}/data.csv", algorithm: sha256}, needs: [data]}

It reads a file (`ReadPath`: resolved like every file a stage reads, and hashed into the
stage's key, so the stage is reused until the file changes) and gives later stages its
digest and size. It is registered only through the entry point ``dii_hpc.stages``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from dii_hpc.errors import ConfigError, InfraError
from dii_hpc.pipeline.context import Context
from dii_hpc.pipeline.kind import ReadPath, StageConfig, StageKind
from dii_hpc.pipeline.spec import Pipeline, Stage


class ChecksumConfig(StageConfig):
    file: ReadPath
    algorithm: Literal["sha256", "sha1", "md5"] = "sha256"


def check(pipeline: Pipeline, stage: Stage) -> None:
    """A file no stage makes (none under ``{work}``) must exist at submit."""
    spec = ChecksumConfig.model_validate(stage.value)
    if "{" not in spec.file and not Path(spec.file).is_file():
        raise ConfigError(f"checksum.file: {spec.file}: no such file")


def run(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    spec = ctx.config(ChecksumConfig)
    path = Path(ctx.fill(spec.file))
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InfraError(f"checksum: cannot read {path}: {err.strerror}") from err
    return {"file": str(path), "algorithm": spec.algorithm,
            spec.algorithm: hashlib.new(spec.algorithm, data).hexdigest(), "bytes": len(data)}, []


CHECKSUM = StageKind(name="checksum", doc="hash a file into the stage's outputs (example plug-in)",
                     config=ChecksumConfig, check=check, run=run)
