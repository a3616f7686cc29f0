"""Data-quality rules (dii_hpc/drift/quality): each on an injected fault, the rule registry,
and the exit codes of `drift check` (1 when a rule fails, 2 for bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dii_hpc.cli.app import main
from dii_hpc.drift import quality
from dii_hpc.drift.options import DriftOptions


def clean(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.uniform(0, 10, n),
                         "z": rng.choice(["a", "b", "c"], n)})


def failed(cur: pd.DataFrame, ref: pd.DataFrame | None = None,
           opt: DriftOptions | None = None) -> dict[tuple[str, str | None], str]:
    results, _ = quality.run(clean() if ref is None else ref, cur, opt or DriftOptions())
    return {(q.rule, q.column): q.detail for q in results if q.status == "fail"}


def test_a_clean_batch_passes_every_rule() -> None:
    results, usable = quality.run(clean(), clean(seed=1), DriftOptions())
    assert results and all(q.status == "ok" for q in results)
    assert {q.rule for q in results} == {"schema", "type", "missing_share", "out_of_range",
                                         "new_category", "duplicates", "constant"}
    assert usable == ["x", "y", "z"]


def test_missing_values() -> None:
    cur = clean(seed=1)
    cur.loc[:99, "x"] = np.nan                # 25 % missing, none in the reference
    found = failed(cur)
    assert set(found) == {("missing_share", "x")}
    assert "25.0% missing" in found[("missing_share", "x")]
    assert not failed(cur, opt=DriftOptions(quality={"missing_share": 0.3}))
    gone = clean(seed=1).assign(y=np.nan)     # the whole column gone
    assert set(failed(gone, opt=DriftOptions(quality={"missing_share": 0.9}))) == \
        {("missing_share", "y")}              # whatever the threshold
    _, usable = quality.run(clean(), gone, DriftOptions())
    assert usable == ["x", "z"]               # an all-missing column cannot be tested


def test_out_of_range() -> None:
    cur = clean(seed=1)
    cur.loc[:19, "y"] = 50.0                  # 5 % above the reference's max
    assert set(failed(cur)) == {("out_of_range", "y")}
    assert not failed(cur, opt=DriftOptions(quality={"out_of_range": 0.1}))


def test_new_category() -> None:
    cur = clean(seed=1)
    cur.loc[:2, "z"] = "d"
    found = failed(cur)
    assert set(found) == {("new_category", "z")} and "'d'" in found[("new_category", "z")]


def test_renamed_new_and_missing_columns() -> None:
    cur = clean(seed=1).rename(columns={"y": "why"}).assign(extra=1.0)
    found = failed(cur)
    assert "renamed to 'why'" in found[("schema", "y")]
    assert "new column" in found[("schema", "why")] and ("schema", "extra") in found
    cur = clean(seed=1).drop(columns=["x"])
    assert failed(cur)[("schema", "x")].startswith("missing from")


def test_type_change_duplicates_and_constant() -> None:
    cur = clean(seed=1).astype({"x": object})
    cur.loc[5, "x"] = "oops"
    cur["z"] = "a"                            # one value where the reference has three
    found = failed(cur)
    assert "has text 'oops' where numbers are expected" in found[("type", "x")]
    assert ("constant", "z") in found
    _, usable = quality.run(clean(), cur, DriftOptions())
    assert "x" not in usable
    twice = pd.concat([clean(seed=1), clean(seed=1).iloc[:100]], ignore_index=True)
    assert set(failed(twice)) == {("duplicates", None)}


def test_unknown_rule_is_bad_input() -> None:
    from dii_hpc.errors import BadInput

    with pytest.raises(BadInput, match="quality rule 'bogus': no such rule"):
        quality.run(clean(), clean(), DriftOptions(quality={"bogus": 0.1}))


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DII_HPC_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_exit_codes_json_and_text(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failed rule: exit 1 with the rule named, the JSON's data_quality and the per-column
    text; the drift tests still compare the columns that can be compared. Bad input: 2."""
    clean().to_csv("ref.csv", index=False)
    clean(seed=1).to_csv("ok.csv", index=False)
    cur = clean(seed=1)
    cur.loc[:2, "z"] = "d"
    cur.to_csv("cat.csv", index=False)
    assert main(["drift", "check", "--reference", "ref.csv", "--current", "ok.csv"]) == 0
    code = main(["drift", "check", "--reference", "ref.csv", "--current", "cat.csv",
                 "--json", "out.json"])
    out, err = capsys.readouterr()
    assert code == 1 and "data quality: new_category(z)" in err
    doc = json.loads(Path("out.json").read_text())
    rows = {(q["rule"], q["column"]): q for q in doc["data_quality"]}
    assert rows[("new_category", "z")]["status"] == "fail"
    assert set(rows[("missing_share", "x")]) == {"rule", "column", "status", "detail"}
    assert doc["drift"] is False and set(doc["features"]) == {"x", "y", "z"}
    assert "z        FAIL     new_category" in out
    Path("broken.parquet").write_text("not parquet")
    assert main(["drift", "check", "--reference", "ref.csv", "--current", "broken.parquet"]) == 2
    Path("q.yaml").write_text("quality: {bogus: 1}\n")
    assert main(["drift", "check", "--reference", "ref.csv", "--current", "ok.csv",
                 "--config", "q.yaml"]) == 2
    Path("off.yaml").write_text("quality_off: [new_category]\n")
    assert main(["drift", "check", "--reference", "ref.csv", "--current", "cat.csv",
                 "--config", "off.yaml"]) == 0


def test_rules_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    """`drift rules` lists every rule with its default threshold and exit code, in order."""
    assert main(["drift", "rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["schema", "type", "missing_share", "out_of_range", "new_category",
                     "duplicates", "constant"]
    assert lines[4].split()[1:4] == ["0.01", "1", "dii-hpc"]  # out_of_range
