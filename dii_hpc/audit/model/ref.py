"""The audited model's reference, resolved once, and the one function that builds it.

A config names the model as a registered version (``models:/NAME@ALIAS``) or as a
"module:callable" (with ``params``). `ModelRef.resolve` pins a registered one to the version
it holds now (so the job, its array tasks and the record of what ran all mean the same
weights even if the alias moves) and records what the registry knows: the training run (the
audit's parent) and, when the version recorded one, the model's task. `ModelRef.build` is
the one builder of every audit path, every task family (classification, regression,
detection, segmentation), reference models and Slurm shards alike.

The task of an audit is the config's ``task:``, else what the reference knows (a version's
recorded ``task``, or its loader's ``task`` parameter); planning never builds the model
just to learn it: where neither knows, the plan covers every task the model may have and
each array task finds its own (`placement.chain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.audit.model.protocols import Predictor

Spec = str | dict[str, Any]


@dataclass(frozen=True)
class ModelRef:
    """``spec`` (a pinned ``models:/NAME/VERSION``, or "module:callable" / {factory,
    params}), the folders its modules are looked for in, what the registry knows."""

    spec: Spec
    search: tuple[str, ...] = ()
    task: str | None = None  # the task a registered version recorded
    run_id: str | None = None  # a registered version's training run

    @classmethod
    def resolve(cls, spec: Spec, search: tuple[str, ...] = ()) -> ModelRef:
        """The reference with a registered version pinned (NotFound for a mistyped one)."""
        from dii_hpc.registry import uri

        if not uri.is_uri(spec):
            return cls(spec, search)
        record = uri.resolve(str(spec), "model")
        loader = record.get("loader") or {}
        task = record.get("task") or (loader.get("params") or {}).get("task")
        return cls(f"{uri.PREFIX}{record['name']}/{record['version']}", search,
                   str(task) if task else None, record.get("run_id"))

    @property
    def registered(self) -> bool:
        from dii_hpc.registry import uri

        return uri.is_uri(self.spec)

    def build(self) -> Predictor:
        """The model: a registered version through its recorded loader (weights checked),
        else the "module:callable" found on sys.path or beside the config."""
        from dii_hpc.registry import uri

        model: Predictor = uri.build(self.spec, "model", search=self.search)
        return model

    def display(self) -> str:
        from dii_hpc.config import refs

        return refs.display(self.spec)

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "search": list(self.search), "task": self.task,
                "run_id": self.run_id}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ModelRef:
        return cls(raw["spec"], tuple(raw.get("search") or ()), raw.get("task"),
                   raw.get("run_id"))
