"""Stage keys: what changes a stage's key (and so what runs again) and what does not."""

from __future__ import annotations

from pathlib import Path

from dii_hpc.pipeline import cache, graph, spec
from tests.pipeline.conftest import lifecycle

CODE = {"dii_hpc": "1", "sources": "abc", "diff_sha256": None}


def _keys(obj: dict, tmp_path: Path, code: dict = CODE) -> dict[str, str]:
    p = spec.parse(obj, str(tmp_path / "p.yaml"))
    return cache.keys(p.stages, graph.order({n: s.needs for n, s in p.stages.items()}), code)


def test_same_inputs_same_keys(files: dict[str, Path], tmp_path: Path) -> None:
    first = _keys(lifecycle(files), tmp_path)
    assert first == _keys(lifecycle(files), tmp_path)
    assert len(set(first.values())) == len(first)


def test_a_config_file_content_change_reruns_it_and_what_needs_it(files: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    before = _keys(lifecycle(files), tmp_path)
    files["sweep"].write_text(files["sweep"].read_text().replace("0.4", "0.5"))
    after = _keys(lifecycle(files), tmp_path)
    assert all(before[s] != after[s] for s in before)  # everything is downstream of train
    files["policy"].write_text('{"training": {"val_acc": ">= 0.35"}}')
    again = _keys(lifecycle(files), tmp_path)
    assert [s for s in after if after[s] != again[s]] == ["gate", "promote", "site"]


def test_stage_config_and_code_version_count(files: dict[str, Path], tmp_path: Path) -> None:
    base = lifecycle(files)
    before = _keys(base, tmp_path)
    base["stages"]["note"]["command"] = "true"
    after = _keys(base, tmp_path)
    assert [s for s in before if before[s] != after[s]] == ["note", "site"]
    other = _keys(lifecycle(files), tmp_path, {**CODE, "diff_sha256": "x"})
    assert all(before[s] != other[s] for s in before)


def test_files_under_work_are_not_hashed_their_makers_key_stands_for_them(tmp_path: Path) -> None:
    obj = {"pipeline": "p", "stages": {"make": {"command": "touch {work}/a.csv"},
                                       "prof": {"profile": {"name": "m", "data": "{work}/a.csv"},
                                                "needs": ["make"]}}}
    p = spec.parse(obj, "p.yaml")
    assert cache.file_hashes(p.stages["prof"]) == {}
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    obj["stages"]["prof"]["profile"]["data"] = str(data)
    p = spec.parse(obj, "p.yaml")
    first = cache.file_hashes(p.stages["prof"])
    data.write_text("x\n2\n")
    assert list(first) == [str(data)] and cache.file_hashes(p.stages["prof"]) != first


def test_outcomes_are_kept_by_key(tmp_path: Path) -> None:
    assert cache.lookup(tmp_path, "k" * 64) is None
    cache.save(tmp_path, "k" * 64, {"outputs": {"run_id": "r"}, "runs": []})
    assert cache.lookup(tmp_path, "k" * 64)["outputs"] == {"run_id": "r"}


def test_code_version_of_this_checkout(tmp_path: Path) -> None:
    code = cache.code_version(Path(__file__).parent)
    assert len(code["sources"]) == 64 and code["dii_hpc"]
    assert cache.code_version(tmp_path)["sources"] is None  # not a git repository
