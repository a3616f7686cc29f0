"""`dii-hpc models ...` as users run it: output, JSON shape, exit codes, one-line bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dii_hpc.registry.registry import Registry
from dii_hpc.store.store import Store
from dii_hpc.tracking.run import start_run
from tests.conftest import run_cli, tree_snapshot

LOADER = "tests.registry.fixtures:constant"


@pytest.fixture()
def model(store_path: Path) -> dict[str, str]:
    """Model `m` with versions 1 and 2 (v1 champion) of one training run; an audit of v2."""
    store = Store(store_path)
    with start_run("train", params={"lr": 0.1}, store=store) as run:
        (Path(run.dir) / "model.pt").write_bytes(b"\x03")
        run.log_artifact(Path(run.dir) / "model.pt")
    reg = Registry(store)
    for _ in range(2):
        reg.register(run.id, "m", loader=LOADER)
    reg.set_alias("m", 1, "champion")
    with start_run("audits", kind="audit", store=store) as audit:
        audit.set_section("audit", {"suite": "evasion", "metrics": {"robust_accuracy": 0.2}})
        audit.set_manifest({"weights_sha256": reg.resolve("m", 2)["weights"]["sha256"]})
    reg.attach("m", 2, "audit", audit.id)
    return {"run": run.id, "audit": audit.id}


def test_register_list_and_show(store_path: Path, model: dict[str, str]) -> None:
    res = run_cli("models", "register", model["run"], "--name", "m", "--loader", LOADER,
                  "--param", "scale=2")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"registered models:/m/3 from run {model['run']}")
    listed = run_cli("models", "list")
    assert listed.returncode == 0 and "m     3         3       champion=v1" in listed.stdout
    shown = json.loads(run_cli("models", "show", "m", "--format", "json").stdout)
    assert shown["aliases"] == {"champion": 1}
    assert [(v["version"], v["run_id"], v["aliases"]) for v in shown["versions"]] == [
        (1, model["run"], ["champion"]), (2, model["run"], []), (3, model["run"], [])]
    assert shown["versions"][2]["loader"]["params"] == {"scale": 2}
    assert {"weights", "inputs", "code", "config", "run"} <= set(shown["versions"][0])
    one = run_cli("models", "show", "m", "2")
    assert one.returncode == 0 and f"audits: {model['audit']}" in one.stdout
    assert json.loads(run_cli("models", "show", "m", "2", "--format", "json").stdout)["audits"] == [model["audit"]]


def test_alias_and_archive(store_path: Path, model: dict[str, str]) -> None:
    res = run_cli("models", "alias", "m", "2", "champion")
    assert res.returncode == 0 and res.stdout.strip() == "models:/m@champion -> version 2 (was v1)"
    assert run_cli("models", "archive", "m", "1").stdout.strip() == "models:/m/1 archived"
    assert Registry(store_path).versions("m")[0]["status"] == "archived"


def test_promote_fails_with_one_line_per_failed_rule(store_path: Path, model: dict[str, str],
                                                     tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text('audits:\n  - {suite: evasion, rules: {robust_accuracy: ">= 0.4"}}\n'
                      '  - {attack: mi_loss}\n')
    res = run_cli("models", "promote", "m", "2", "--to", "champion", "--policy", str(policy),
                  "--json", str(tmp_path / "d.json"))
    assert res.returncode == 1
    failed = [line for line in res.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2 and failed[0].startswith("FAILED suite evasion: robust_accuracy >= 0.4")
    assert failed[1].startswith("FAILED audit attack mi_loss: missing audit")
    assert res.stderr.strip() == ("dii-hpc: error: models:/m/2 not promoted to champion: "
                                  "2 of 3 rule(s) failed")
    assert json.loads((tmp_path / "d.json").read_text())["passed"] is False
    assert Registry(store_path).alias_version("m", "champion") == 1
    assert len(Registry(store_path).version("m", 2)["decisions"]) == 1
    gate = run_cli("models", "gate", "m", "2", "--policy", str(policy), "--junit",
                   str(tmp_path / "j.xml"))
    assert gate.returncode == 1 and 'failures="2"' in (tmp_path / "j.xml").read_text()
    assert len(Registry(store_path).version("m", 2)["decisions"]) == 1  # gate writes nothing


@pytest.mark.parametrize(("args", "policy", "message"), [
    (["models", "show", "mm"], None, "unknown model 'mm' (did you mean m?)"),
    (["models", "show", "m", "7"], None, "unknown version of model m: '7'; versions: 1, 2"),
    (["models", "alias", "m", "1", "not plain"], None, "invalid alias 'not plain': an alias is a plain name (a letter, then letters, digits, _ or -), e.g. champion"),
    (["models", "alias", "m", "1", "latest"], None, "alias 'latest' is reserved (models:/NAME/latest is the latest version, v<N> reads as version N); choose another name, e.g. champion"),
    (["models", "alias", "m", "1", "V2"], None, "alias 'V2' is reserved (models:/NAME/latest is the latest version, v<N> reads as version N); choose another name, e.g. champion"),
    (["models", "register", "{run}", "--name", "m", "--artifact", "best.pt"], None,
     "run {run}: no artifact 'best.pt' (artifacts: model.pt)"),
    (["models", "register", "NOSUCHRUN", "--name", "m"], None, "unknown run 'NOSUCHRUN'"),
    (["models", "promote", "m", "2", "--to", "champion", "--policy", "{policy}"],
     "audits:\n  - {suite: evasoin}\n", "unknown suite ({policy}:2: audits[0].suite) 'evasoin' (did you mean evasion?)"),
    (["models", "gate", "m", "2", "--policy", "{policy}"],
     "audits:\n  - {suite: evasion, rules: {robust_acc: '>= 0.1'}}\n",
     "{policy}: audits suite evasion: unknown metric 'robust_acc' (audit run {audit} has robust_accuracy)"),
    (["predict", "--model", "models:/m@champoin", "--data", "x.csv", "--out", "o"], None,
     "unknown alias of model m: 'champoin' (did you mean champion?)"),
])
def test_bad_input_is_one_line_and_exit_2(store_path: Path, model: dict[str, str], tmp_path: Path,
                                         args: list[str], policy: str | None, message: str) -> None:
    path = tmp_path / "policy.yaml"
    if policy:
        path.write_text(policy)
    fill = {"run": model["run"], "policy": str(path), "audit": model["audit"]}
    before = tree_snapshot(store_path / "models")
    res = run_cli(*[a.format(**fill) for a in args])
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == f"dii-hpc: error: {message.format(**fill)}"
    assert tree_snapshot(store_path / "models") == before
