"""`dii-hpc models register|list|show|alias|archive|promote|gate`: the model registry.

Only typer is imported here. Exit codes: 0 ok, 1 a policy rule failed (promote, gate),
2 bad input (unknown model/version/alias, a run without the artifact, a bad policy).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dii_hpc.cli import common

models_app = typer.Typer(help="Registered models: versions with lineage, aliases, trust gates.",
                         no_args_is_help=True, rich_markup_mode=None)

FmtOpt = Annotated[str, typer.Option("--format", help="table or json.")]
PolicyOpt = Annotated[str, typer.Option("--policy", help="Policy YAML (audits, relative, drift).")]
JunitOpt = Annotated[str | None, typer.Option("--junit", help="Write the checks as JUnit XML here.")]
JsonOpt = Annotated[str | None, typer.Option("--json", help="Write the decision JSON here.")]


def _registry() -> Any:
    """The registry of the --store, which must exist (a typo is not an empty registry)."""
    from dii_hpc.registry.registry import Registry

    return Registry(common.store())


def _format(fmt: str) -> str:
    if fmt not in ("table", "json"):
        from dii_hpc.errors import BadInput

        raise BadInput(f"unknown --format {fmt!r}: expected one of table, json")
    return fmt


def _table(rows: list[dict[str, Any]], empty: str) -> str:
    import pandas as pd

    from dii_hpc.cli.tables import render_frame

    return render_frame(pd.DataFrame(rows), "table") if rows else empty


def _catalog() -> dict[str, Any]:
    """The audits a policy may require: the suites and attacks the audit package knows."""
    from dii_hpc.audit.specs import catalog

    return catalog()


@models_app.command("register")
def register_cmd(
    run_id: Annotated[str, typer.Argument(help="Training run whose weights become the version.")],
    name: Annotated[str, typer.Option("--name", help="Model name.")],
    artifact: Annotated[str | None, typer.Option("--artifact", help="Artifact holding the weights (default model.pt or the only .pt).")] = None,
    loader: Annotated[str | None, typer.Option("--loader", help="module:callable taking weights=PATH (default: the run config's models.X.loader).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE for the loader (repeatable).")] = None,
    description: Annotated[str | None, typer.Option("--description", help="Free text kept with the version.")] = None,
) -> None:
    """Create the next version of NAME from a training run, with its lineage."""
    from dii_hpc.cli.options import key_values

    record = _registry().register(run_id, name, artifact=artifact, loader=loader,
                                  loader_params=key_values(param), description=description)
    code = record.get("code") or {}
    where = f" at {code['commit'][:10]}{' (dirty)' if code.get('dirty') else ''}" if code else ""
    typer.echo(f"registered models:/{name}/{record['version']} from run {record['run_id']}{where}, "
               f"weights {record['weights']['artifact']} sha256:{record['weights']['sha256'][:12]}")


@models_app.command("list")
def list_cmd(fmt: FmtOpt = "table") -> None:
    """Every registered model: versions, latest, aliases."""
    from dii_hpc.report.display import fmt_time

    rows = _registry().summary()
    if _format(fmt) == "json":
        typer.echo(common.to_json(rows))
        return
    shown = [{**r, "updated": fmt_time(r["updated"])} for r in rows]
    typer.echo(_table(shown, "(no registered models)"))


def _version_rows(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from dii_hpc.report.display import fmt_time

    out = []
    for v in versions:
        code = v.get("code") or {}
        out.append({"version": v["version"], "status": v["status"],
                    "aliases": ",".join(v["aliases"]) or "-", "run_id": v["run_id"],
                    "created": fmt_time(v.get("created")),
                    "code": (code.get("commit", "")[:10] + ("+dirty" if code.get("dirty") else ""))
                    or "-", "weights": v["weights"]["sha256"][:12]})
    return out


def _version_text(v: dict[str, Any]) -> str:
    import json

    lines = [f"models:/{v['name']}/{v['version']} ({v['status']})"]
    lines += [f"{k}: {v.get(k)}" for k in ("run_id", "experiment", "description") if v.get(k)]
    lines.append(f"aliases: {', '.join(v['aliases']) or '-'}")
    code = v.get("code") or {}
    if code:
        lines.append(f"code: {code['commit']}{' (dirty)' if code.get('dirty') else ''}")
    w = v["weights"]
    lines.append(f"weights: {w['artifact']} sha256:{w['sha256']} ({w.get('size')} B)")
    loader = v["loader"]
    lines.append(f"loader: {loader['factory']} {json.dumps(loader.get('params') or {}, default=str)}")
    for name, entry in (v.get("inputs") or {}).items():
        shape = entry.get("shape") or entry.get("rows")
        lines.append(f"input {name}: sha256:{str(entry.get('sha256'))[:12]} {shape or ''} "
                     f"{entry.get('source') or ''}".rstrip())
    for key in ("audits", "deployments"):
        if v.get(key):
            lines.append(f"{key}: {', '.join(v[key])}")
    for d in v.get("decisions", []):
        verdict = "passed" if d.get("passed") else "failed"
        lines.append(f"decision: {d.get('action')} to {d.get('alias')} {verdict} "
                     f"(policy {d.get('policy', {}).get('source')}, by {d.get('user')})")
    return "\n".join(lines)


@models_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Argument(help="One version in full.")] = None,
    fmt: FmtOpt = "table",
) -> None:
    """A model's versions and aliases, or one version with its lineage and decisions."""
    reg = _registry()
    _format(fmt)
    if version is not None:
        v = reg.version(name, version)
        typer.echo(common.to_json(v) if fmt == "json" else _version_text(v))
        return
    shown = reg.show(name)
    if fmt == "json":
        typer.echo(common.to_json(shown))
        return
    typer.echo(_table(_version_rows(shown["versions"]), "(no complete version yet)"))
    if shown["aliases"]:
        typer.echo("aliases: " + ", ".join(f"{a} -> v{v}" for a, v in shown["aliases"].items()))


@models_app.command("alias")
def alias_cmd(name: Annotated[str, typer.Argument(help="Model name.")],
              version: Annotated[int, typer.Argument(help="Version the alias points at.")],
              alias: Annotated[str, typer.Argument(help="Alias, e.g. champion.")]) -> None:
    """Point ALIAS at VERSION (one atomic write; no policy: see `models promote`)."""
    event = _registry().set_alias(name, version, alias)
    was = f" (was v{event['previous']})" if event.get("previous") else ""
    typer.echo(f"models:/{name}@{alias} -> version {version}{was}")


@models_app.command("archive")
def archive_cmd(name: Annotated[str, typer.Argument(help="Model name.")],
                version: Annotated[int, typer.Argument(help="Version to archive.")],
                restore: Annotated[bool, typer.Option("--restore", help="Make it active again.")] = False) -> None:
    """Archive a version (it still loads by number; `latest` and aliases skip it)."""
    _registry().archive(name, version, restore=restore)
    typer.echo(f"models:/{name}/{version} {'restored' if restore else 'archived'}")


def _report(decision: Any, junit: str | None, json_path: str | None) -> None:
    """Print one line per check, write the JUnit/JSON files."""
    for c in decision.checks:
        typer.echo(f"{'ok    ' if c.passed else 'FAILED'} {c.rule}: {c.detail}")
    if junit:
        from dii_hpc import junit as junitmod

        cls = f"dii_hpc.registry.{decision.name}"
        junitmod.write(junit, f"dii-hpc models gate {decision.name} v{decision.version}",
                       [junitmod.Case(c.rule, cls, failure=None if c.passed else c.detail,
                                      failure_type="policy", output=c.detail)
                        for c in decision.checks])
    if json_path:
        from dii_hpc.store.atomic import write_json

        write_json(json_path, decision.to_dict())


def _verdict(decision: Any, what: str) -> None:
    from dii_hpc.errors import CheckFailed

    failed = decision.failures()
    if failed:
        raise CheckFailed(f"models:/{decision.name}/{decision.version} {what}: "
                          f"{len(failed)} of {len(decision.checks)} rule(s) failed")


@models_app.command("promote")
def promote_cmd(name: Annotated[str, typer.Argument(help="Model name.")],
                version: Annotated[int, typer.Argument(help="Candidate version.")],
                to: Annotated[str, typer.Option("--to", help="Alias to move, e.g. champion.")],
                policy: PolicyOpt, junit: JunitOpt = None, json: JsonOpt = None) -> None:
    """Check POLICY, record the decision on the version, move the alias only if it passed."""
    decision = _registry().promote(name, version, to, policy, catalog=_catalog())
    _report(decision, junit, json)
    _verdict(decision, f"not promoted to {to}")
    typer.echo(f"models:/{name}@{to} -> version {version}")


@models_app.command("gate")
def gate_cmd(name: Annotated[str, typer.Argument(help="Model name.")],
             version: Annotated[int, typer.Argument(help="Candidate version.")],
             policy: PolicyOpt,
             to: Annotated[str | None, typer.Option("--to", help="Alias whose holder relative rules compare with.")] = "champion",
             junit: JunitOpt = None, json: JsonOpt = None) -> None:
    """Evaluate POLICY for a version without promoting it (for CI); exit 1 if a rule fails."""
    decision = _registry().gate(name, version, policy, to=to, catalog=_catalog())
    _report(decision, junit, json)
    _verdict(decision, "fails the policy")
    typer.echo(f"models:/{name}/{version} passes {policy}")


def register(app: typer.Typer) -> None:
    """Attach `models` to the root app."""
    app.add_typer(models_app, name="models")
