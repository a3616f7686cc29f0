"""`Registry`: the Python face of the model registry (the CLI's `models` commands call it).

    reg = Registry(store)                     # a Store, a path, or None (the default store)
    v = reg.register(run_id, "digits")        # next version, with lineage and loader
    reg.set_alias("digits", v["version"], "champion")
    reg.show("digits")                        # {"name", "versions": [...], "aliases": {...}, ...}
    decision = reg.promote("digits", 3, to="champion", policy="configs/policy.yaml")
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput, CheckFailed, NotFound
from dii_hpc.registry import aliases, events, layout, links, versions

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import StoreLike


class Registry:
    """Models of one store: versions, aliases, history, attached runs, promotion."""

    def __init__(self, store: StoreLike = None) -> None:
        if store is None or isinstance(store, (str, os.PathLike)):
            from dii_hpc.store.store import Store

            store = Store(store)
        self.store = store

    @property
    def root(self) -> Any:
        return self.store.root

    # ----------------------------------------------------------------- reading
    def names(self) -> list[str]:
        return layout.model_names(self.root)

    def check_model(self, name: str) -> str:
        layout.check_name(name)
        if name not in self.names():
            raise NotFound("model", name, self.names())
        return name

    def alias_version(self, name: str, alias: str) -> int | None:
        return aliases.get(self.root, name, alias)

    def resolve(self, name: str, version: int | None = None,
                alias: str | None = None) -> dict[str, Any]:
        """A complete version's record: by number, by alias, or the latest unarchived one."""
        self.check_model(name)
        if alias is not None:
            held = aliases.get(self.root, name, alias)
            if held is None:
                raise NotFound(f"alias of model {name}:", alias,
                               list(aliases.all_of(self.root, name)))
            version = held
        if version is None:
            gone = events.archived(events.read_all(self.root, name))
            done = [r["version"] for r in versions.complete(self.root, name)
                    if r["version"] not in gone]
            if not done:
                raise BadInput(f"model {name!r} has no complete, unarchived version")
            version = max(done)
        record = versions.read(self.root, name, int(version))
        if record is None:
            known = versions.numbers(self.root, name)
            if int(version) in known:
                raise BadInput(f"models:/{name}/{version} is being written (its registration "
                               "has not finished)")
            err = NotFound(f"version of model {name}:", str(version), [str(n) for n in known])
            err.args = (f"{err}; versions: {', '.join(map(str, known)) or 'none'}",)
            raise err
        return record

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every complete version with its aliases and status ("active" or "archived")."""
        self.check_model(name)
        held = aliases.all_of(self.root, name)
        gone = events.archived(events.read_all(self.root, name))
        out = []
        for record in versions.complete(self.root, name):
            v = record["version"]
            out.append({**record, "aliases": sorted(a for a, n in held.items() if n == v),
                        "status": "archived" if v in gone else "active"})
        return out

    def version(self, name: str, version: int) -> dict[str, Any]:
        """One version in full: lineage, aliases, status, decisions and the runs attached."""
        record = self.resolve(name, version)
        v = record["version"]
        all_events = events.read_all(self.root, name)
        held = aliases.all_of(self.root, name)
        return {**record, "aliases": sorted(a for a, n in held.items() if n == v),
                "status": "archived" if v in events.archived(all_events) else "active",
                "decisions": [e for e in all_events
                              if e.get("event") == "decision" and e.get("version") == v],
                "audits": [link["run_id"] for link in links.of(self.root, name, v, "audit")],
                "deployments": [link["run_id"]
                                for link in links.of(self.root, name, v, "deployment")]}

    def show(self, name: str) -> dict[str, Any]:
        """A model: its versions (each with version, run_id, aliases, lineage), aliases, history."""
        rows = self.versions(name)
        all_events = events.read_all(self.root, name)
        return {"name": name, "versions": rows, "aliases": aliases.all_of(self.root, name),
                "history": all_events}

    def summary(self) -> list[dict[str, Any]]:
        """One row per model (for `models list`)."""
        out = []
        for name in self.names():
            rows = self.versions(name)
            held = aliases.all_of(self.root, name)
            out.append({"name": name, "versions": len(rows),
                        "latest": max((r["version"] for r in rows), default=None),
                        "aliases": ", ".join(f"{a}=v{v}" for a, v in sorted(held.items())),
                        "updated": max((r.get("created") or 0 for r in rows), default=None)})
        return out

    # ----------------------------------------------------------------- writing
    def register(self, run_id: str, name: str, *, artifact: str | None = None,
                 loader: str | None = None, loader_params: dict[str, Any] | None = None,
                 description: str | None = None) -> dict[str, Any]:
        """The next version of ``name`` from a training run (see ``lineage.from_run``)."""
        from dii_hpc.registry import lineage

        layout.check_name(name)
        self.store.ensure_writable()
        record = lineage.from_run(self.store, run_id, artifact=artifact, loader_ref=loader,
                                  loader_params=loader_params, description=description)
        return versions.register(self.root, name, record)

    def set_alias(self, name: str, version: int, alias: str,
                  reason: str | None = None) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (one atomic write); returns the recorded move."""
        layout.check_alias(alias)
        record = self.resolve(name, version)
        if record["version"] in events.archived(events.read_all(self.root, name)):
            raise BadInput(f"models:/{name}/{version} is archived; an alias cannot point at it")
        return aliases.move(self.root, name, alias, record["version"], reason)

    def archive(self, name: str, version: int, restore: bool = False) -> dict[str, Any]:
        """Mark a version archived (or active again); a version holding an alias stays active."""
        record = self.resolve(name, version)
        held = [a for a, v in aliases.all_of(self.root, name).items() if v == record["version"]]
        if held and not restore:
            raise BadInput(f"models:/{name}/{version} holds alias {', '.join(held)}; "
                           "move it to another version first")
        return events.append(self.root, name, {"event": "restore" if restore else "archive",
                                               "version": record["version"]})

    def attach(self, name: str, version: int, kind: str, run_id: str) -> None:
        """Record that run ``run_id`` used the version (an audit of it, a deployment)."""
        links.attach(self.root, name, version, kind, run_id)

    # ------------------------------------------------------------------ trust
    def gate(self, name: str, version: int, policy: Any, to: str | None = None,
             catalog: Mapping[str, Collection[str]] | None = None) -> Any:
        """Evaluate ``policy`` (a Policy or a YAML path) for a version; nothing is written."""
        from dii_hpc.registry import evaluate
        from dii_hpc.registry import policy as policymod

        if to is not None:
            layout.check_alias(to)
        rules = policy if isinstance(policy, policymod.Policy) else policymod.load(policy, catalog)
        return evaluate.evaluate(self, self.resolve(name, version), rules, to)

    def promote(self, name: str, version: int, to: str, policy: Any,
                catalog: Mapping[str, Collection[str]] | None = None,
                raise_on_fail: bool = False) -> Any:
        """Gate, record the decision on the version, and move ``to`` only when every rule holds."""
        record = self.resolve(name, version)
        if record["version"] in events.archived(events.read_all(self.root, name)):
            raise BadInput(f"models:/{name}/{version} is archived; it cannot be promoted")
        decision = self.gate(name, version, policy, to, catalog)
        events.append(self.root, name, {"event": "decision", "action": "promote",
                                        **decision.to_dict()})
        if decision.passed:
            self.set_alias(name, version, to, reason=f"promoted by policy {decision.policy['source']}")
        elif raise_on_fail:
            raise CheckFailed(f"models:/{name}/{version} not promoted to {to}: "
                              f"{len(decision.failures())} rule(s) failed")
        return decision
