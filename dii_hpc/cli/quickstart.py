"""`dii-hpc quickstart`: the whole platform once, on the embedded default, ending in a report.

Every step goes through the same commands a user types (submit, models register, audit suite,
drift profile/check, models promote, report build), so the quickstart is also a smoke test of
the real paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from dii_hpc.store.store import Store

MODEL = "quickstart-digits-cnn"


def _config_file(name: str) -> Path:
    """configs/ of the repository (editable install) or the copy inside the wheel."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "configs" / name, here / "_configs" / name):
        if candidate.exists():
            return candidate
    from dii_hpc.errors import InfraError

    raise InfraError(f"packaged config {name} is missing from this installation")


def _step(title: str) -> None:
    typer.secho(f"\n== {title}", bold=True, err=True)


def _invoke(ctx: typer.Context, args: list[str], ok: tuple[int, ...] = (0,),
            quiet: bool = False) -> int:
    """Run `dii-hpc ARGS` in this process through the root command, exit codes as the CLI's.

    ``quiet`` keeps what the command prints (the caller summarises its --json instead) and
    shows it only when the command failed."""
    import contextlib
    import io

    from dii_hpc.cli import entry
    from dii_hpc.errors import InfraError

    root = ctx.find_root().command
    shown = io.StringIO()
    with contextlib.ExitStack() as stack:
        if quiet:
            stack.enter_context(contextlib.redirect_stdout(shown))
            stack.enter_context(contextlib.redirect_stderr(shown))
        code = entry.run(lambda: root.main(args=args, prog_name="dii-hpc", standalone_mode=False))
    if code not in ok:
        typer.echo(shown.getvalue(), err=True, nl=False)
        raise InfraError(f"quickstart step `dii-hpc {' '.join(args)}` failed with exit code {code}")
    return code


def _best_run(experiment: str) -> dict[str, Any]:
    from dii_hpc.cli.common import store as chosen_store
    from dii_hpc.errors import InfraError
    from dii_hpc.records.runs import best

    store = chosen_store()
    found = best(store.records(experiment), "val_acc", "max")
    if found is None:
        raise InfraError(f"quickstart: no FINISHED run of {experiment} logged val_acc")
    return store.run(found[0])


def _drift_data(work: Path) -> tuple[Path, Path, Path]:
    """Digits pixels as tables: reference = train split, then the test split clean and brightened."""
    from dii_hpc.examples.digits import drift_tables

    ref, clean, shifted = (Path(p) for p in drift_tables(str(work))[:3])
    return ref, clean, shifted


def quickstart(
    ctx: typer.Context,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Report folder (default <store>/site).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs per sweep task.")] = 8,
) -> None:
    """Train a small sweep locally, register and audit the best model, check drift, promote the
    model through configs/policy.yaml, build the report."""
    import yaml

    from dii_hpc.cli.common import store as chosen_store

    store = chosen_store(write=True)
    store.ensure_writable()
    work = store.root / "quickstart"
    work.mkdir(exist_ok=True)
    typer.echo(f"store: {store.root}", err=True)

    _step("1/5 train: 2 x 2 sweep of the digits CNN on the local executor")
    _invoke(ctx, ["submit", str(_config_file("quickstart.yaml")), "--executor", "local", "--wait",
             "--set", f"params.epochs={epochs}"])
    best = _best_run("quickstart-digits")

    _step(f"2/5 register: the best run {best['run_id']} as the next version of {MODEL}")
    _invoke(ctx, ["models", "register", best["run_id"], "--name", MODEL,
                  "--description", f"best val_acc of the quickstart sweep ({epochs} epochs)"])
    uri = _latest_version(store, best["run_id"])

    _step(f"3/5 audit: level-I evasion suite of {uri}")
    audit_cfg = work / "audit.yaml"
    audit_cfg.write_text(yaml.safe_dump({
        "experiment": "quickstart-audit", "model": uri,
        "data": "dii_hpc.examples.digits:digits_data", "n_samples": 100, "seed": 0}))
    _invoke(ctx, ["audit", "suite", "evasion", "--config", str(audit_cfg),
             "--json", str(work / "audit.json")])

    _step(f"4/5 drift and trust: profile a monitor, check a clean batch, promote {uri}, check a "
          "shifted batch")
    ref, clean, shifted = _drift_data(work)
    _invoke(ctx, ["drift", "profile", "--data", str(ref), "--name", "digits-pixels"])
    _drift_check(ctx, clean, work / "drift-clean.json", "the test split as it is")
    _invoke(ctx, ["models", "promote", MODEL, uri.rsplit("/", 1)[1], "--to", "champion",
                  "--policy", str(_config_file("policy.yaml"))])
    if _drift_check(ctx, shifted, work / "drift.json", "the test split brightened")["drift"]:
        typer.echo("Finding this drift is the point: the quickstart brightened this batch on "
                   "purpose and the monitor caught it (in cron, `dii-hpc drift check` exits 1 "
                   f"here). Every feature: {work / 'drift.json'} and the report's monitor page.")

    _step("5/5 report: static site")
    args = ["report", "build"] + (["--out", out] if out else [])
    _invoke(ctx, args)
    typer.secho("\nOpen the report: the index.html printed above (file:// works; no network needed).",
                err=True)


def _drift_check(ctx: typer.Context, data: Path, json_file: Path, what: str) -> dict[str, Any]:
    """`drift check --monitor digits-pixels` on ``data``, summarised: its verdict and the most
    drifted features, not its table of 64 pixels."""
    import json

    _invoke(ctx, ["drift", "check", "--monitor", "digits-pixels", "--data", str(data),
                  "--json", str(json_file)], ok=(0, 1), quiet=True)
    section = json.loads(json_file.read_text())
    typer.echo(drift_summary(section, f"{data.name} ({what})"))
    return section


def drift_summary(section: dict[str, Any], batch: str, top: int = 5) -> str:
    """The verdict of a drift check and its ``top`` most drifted features (by how far each
    test is past its threshold: statistic / threshold, or threshold / p-value)."""
    import math

    from dii_hpc.cli.tables import cell, table
    from dii_hpc.store.atomic import as_number

    def severity(f: dict[str, Any]) -> float:
        p = as_number(f.get("p_adjusted", f.get("p_value")))
        stat, limit = as_number(f["statistic"]), as_number(f["threshold"])
        value = (stat / limit if limit else math.inf) if p is None else (limit / p if p else math.inf)
        return -math.inf if math.isnan(value) else value  # an undefined test ranks last

    verdict = "DRIFT" if section["drift"] else "no drift"
    lines = [f"{batch}: {verdict} ({section['n_drifted']}/{section['n_features']} features "
             f"drifted, share {section['share_drifted']:.2f}; rule {section['rule']})"]
    ranked = sorted(section["features"].items(), key=lambda kv: -severity(kv[1]))[:top]
    rows = [(name, f["test"], cell(f["statistic"]),
             cell(f.get("p_adjusted", f["p_value"])), cell(f["threshold"]),
             "DRIFT" if f["drift"] else "ok") for name, f in ranked]
    lines.append(f"most drifted features ({len(rows)} of {section['n_features']}):")
    lines.append(table(rows, ("feature", "test", "statistic", "p-value", "threshold", "drift")))
    return "\n".join(lines)


def _latest_version(store: Store, run_id: str) -> str:
    """models:/MODEL/N of the version just registered from ``run_id``."""
    from dii_hpc.registry.registry import Registry

    mine = [v for v in Registry(store).versions(MODEL) if v["run_id"] == run_id]
    return f"models:/{MODEL}/{mine[-1]['version']}"


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
